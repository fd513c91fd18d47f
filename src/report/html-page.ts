// html-page.ts — owns the shell every self-contained HTML report shares: doctype, viewport, title,
// inline CSS (no external resource: the reports open offline), and a <main> around the body.

import { esc } from './svg-chart.ts';

export function htmlPage(title: string, css: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
