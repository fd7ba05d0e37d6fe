#!/usr/bin/env node
// The `opspawn` command. It lives outside dist/ so npm can link it at install time, before the first build.
import('../dist/cli/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('main.js')) {
    process.stderr.write(
      'error opspawn is not built yet (fix: run `npm run build` in the repository; `npm install` does it)\n',
    );
    process.exit(1);
  }
  throw error;
});
