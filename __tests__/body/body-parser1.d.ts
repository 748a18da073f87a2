// body-parser 1 is installed under the alias `body-parser1`; @types/body-parser describes its API.
declare module 'body-parser1' {
  import bp = require('body-parser');
  export = bp;
}
