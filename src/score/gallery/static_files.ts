// The page's own files, by their path in the site. TS string modules rather
// than asset files, so `npm run build:ts` output (dist/) has them with no copy step.
import { PAGE_HTML } from './page_html.js';
import { PAGE_SCRIPT } from './page_script.js';
import { PAGE_STYLE } from './page_style.js';

export const GALLERY_FILES: Readonly<Record<string, string>> = {
  'index.html': PAGE_HTML,
  'assets/app.js': PAGE_SCRIPT,
  'assets/style.css': PAGE_STYLE,
};
