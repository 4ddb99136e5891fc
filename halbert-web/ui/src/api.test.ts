import { describe, expect, it } from "vitest";
import { explain } from "./api";

describe("errors a person can act on", () => {
  it("a polkit refusal names the action and the group that grants it", () => {
    expect(explain(403, { detail: "not authorized", code: "permission_denied", action: "org.halbert.config.write" })).toBe(
      "not authorized (polkit refused org.halbert.config.write; members of group halbert-admin are allowed: an administrator runs usermod -aG halbert-admin NAME)");
  });
  it("anything else is the server's own words", () => {
    expect(explain(503, { detail: "halbertd is unreachable at /run/halbert/halbertd.sock: halbertd is not running", code: "daemon_unavailable" }))
      .toContain("halbertd is not running");
    expect(explain(500, {})).toBe("HTTP 500");
  });
});
