import { describe, expect, it } from "vitest";
import { renderMarkdown } from "./markdown";

describe("answers as Markdown", () => {
  it("formats code, lists and emphasis", () => {
    const h = renderMarkdown("Run `df -h`:\n\n- **one**\n- two\n\n```\nls /\n```");
    expect(h).toContain("<code>df -h</code>");
    expect(h).toContain("<li><strong>one</strong></li>");
    expect(h).toContain("<pre><code>ls /\n</code></pre>");
  });
  it("shows HTML as text", () => {
    const h = renderMarkdown('<img src=x onerror="alert(1)"> <script>alert(1)</script>');
    expect(h).not.toContain("<img");
    expect(h).not.toContain("<script");
    expect(h).toContain("&lt;script&gt;");
  });
  it("makes only http(s) and mailto links, opening elsewhere", () => {
    expect(renderMarkdown("[x](javascript:alert(1))")).not.toContain("<a");
    expect(renderMarkdown("[docs](https://example.org/)")).toContain('<a href="https://example.org/" target="_blank" rel="noopener noreferrer">docs</a>');
  });
});
