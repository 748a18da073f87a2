// Express 4 is installed under the alias `express4`; its API is typed by Express 5's types,
// which cover everything the harness calls.
declare module 'express4' {
  import e = require('express');
  export = e;
}
