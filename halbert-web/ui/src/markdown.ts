// Markdown for answers (markdown-it with `html: false`): a model's text may format, never
// inject. Raw HTML is shown as text, and links other than http(s) and mailto are not links.
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: false, breaks: true });
md.validateLink = (url: string) => /^(https?:|mailto:)/i.test(url.trim());
// Links open outside the dashboard and give it no handle on the page they open.
const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet("target", "_blank");
  tokens[idx].attrSet("rel", "noopener noreferrer");
  return defaultLinkOpen(tokens, idx, options, env, self);
};

/** An answer as HTML that holds nothing but Markdown's own elements. */
export function renderMarkdown(text: string): string {
  return md.render(text);
}
