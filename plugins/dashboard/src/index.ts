import {
  definePlugin,
  ErrorCodes,
  errorDefinitions,
  extensionPoints,
  type HttpRoutes,
  OpspawnError,
} from '@opspawn/plugin-sdk';
import { UiAssets } from './ui-assets.js';

export { UiAssets } from './ui-assets.js';

export interface DashboardOptions {
  /** Shown in the page title and header. */
  title: string;
  /** How often the task list, plugin health and queue depth are read again. */
  refreshMs: number;
}

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/dashboard': Partial<DashboardOptions>;
  }
}

/** Security headers of the page: its own scripts and styles only, never framed, nothing sent elsewhere. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The dashboard: a page and its static files under `/ui` (public: they hold no data; the page asks for an API key
 * when the API answers 401 and calls the REST API with it), plus two read-scoped helpers the API lacks, the queue
 * depth and the fixes of error codes. See docs/decisions/0019-dashboard.md.
 */
export default definePlugin<DashboardOptions>({
  register(env) {
    env.provide(extensionPoints.httpRoutes, {
      deps: { broker: extensionPoints.broker },
      create({ broker }): HttpRoutes {
        const assets = new UiAssets(env.options);
        const hints = Object.fromEntries(
          errorDefinitions().map((d) => [d.code, { description: d.description, hint: d.hint, docUrl: d.docUrl }]),
        );
        return {
          prefix: '/ui',
          routes: [
            {
              method: 'GET',
              path: '/ui',
              scope: 'public',
              summary: 'The dashboard page (it asks for an API key when the API needs one)',
              handle: () => ({ headers: PAGE_HEADERS, body: assets.html() }),
            },
            {
              method: 'GET',
              path: '/ui/assets/:file',
              scope: 'public',
              summary: "The dashboard's scripts and stylesheet",
              handle(request) {
                const asset = assets.get(request.params.file ?? '');
                if (!asset)
                  throw new OpspawnError(ErrorCodes.NOT_FOUND, `no dashboard file ${request.params.file}`, {
                    hint: 'the dashboard serves the files of its package only',
                  });
                return {
                  headers: { 'content-type': asset.contentType, 'cache-control': 'no-cache' },
                  body: asset.body,
                };
              },
            },
            {
              method: 'GET',
              path: '/ui/api/queue',
              scope: 'read',
              summary: 'Tasks waiting in the broker per priority (absent when the broker cannot tell)',
              async handle() {
                return { body: { depth: broker.depth ? await broker.depth() : null } };
              },
            },
            {
              method: 'GET',
              path: '/ui/api/errors',
              scope: 'read',
              summary: 'Every error code with its description, fix and documentation link',
              handle: () => ({ body: { errors: hints } }),
            },
          ],
          mounted: (address) => env.logger.info({ url: `${address}/ui` }, 'dashboard served on the REST port'),
        };
      },
    });
  },
});
