#!/usr/bin/env node
// `npm create opspawn` runs this. It lives outside dist/ so npm can link it at install time, before the first build.
import('../dist/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('main.js')) {
    process.stderr.write('error create-opspawn is not built yet (fix: run `npm run build` in the repository)\n');
    process.exit(1);
  }
  throw error;
});
