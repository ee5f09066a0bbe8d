#!/usr/bin/env node
// @ts-nocheck
'use strict';
// The operator CLI entry point. TypeScript sources run through tsx so `npx restorable` works from
// a clone without a build step.
// The AWS SDK warns about Node 20 on every start; operators need stdout/stderr clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../src/cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
