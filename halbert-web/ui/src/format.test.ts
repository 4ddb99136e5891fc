import { describe, expect, it } from "vitest";
import { completeMention, cpuLine, eventLine, insertMention, mentionAt, mentions, requestId, stepLine, suggestion, uptime, usage } from "./format";

describe("format", () => {
  it("writes the status lines", () => {
    expect(cpuLine(12.345, 8, null)).toBe("12.3 % of 8 cores");
    expect(cpuLine(5, 2, 48.6)).toBe("5.0 % of 2 cores · 49 °C");
    expect(usage(3.21, 15.9, 20.2)).toBe("3.2 / 15.9 GB (20.2 %)");
    expect(uptime(3 * 3600 + 25 * 60 + 59)).toBe("up 3 h 25 min");
  });

  it("finds mentions", () => {
    expect(mentions("why is @service-nginx down and @storage full?")).toEqual(["@service-nginx", "@storage"]);
    expect(mentions("no mentions here")).toEqual([]);
  });

  it("makes request ids the API accepts", () => {
    const id = requestId(1_700_000_000_000, 0.123456789);
    expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it("describes each step of an answer", () => {
    expect(stepLine({ action: "route", model: "m", model_type: "guide", reasoning: "short" })).toBe("m (guide): short");
    expect(stepLine({ action: "tool_call", tool: "get_system_load", arguments: {}, ok: true, duration_ms: 3 })).toBe(
      "✓ get_system_load {} · 3 ms",
    );
    expect(
      stepLine({ action: "tool_call", tool: "read_journal", arguments: { unit: "x" }, ok: false, duration_ms: 1, reasoning: "refused" }),
    ).toBe('✗ read_journal {"unit":"x"} · 1 ms · refused');
    expect(stepLine({ action: "other" })).toBeNull();
  });

  it("shows a tool call being written and how a request failed", () => {
    expect(eventLine({ type: "tool_call_started", data: { request_id: "r", tool: "read_journal" } })).toBe(
      "… the model is writing a call of read_journal",
    );
    expect(eventLine({ type: "chat_error", data: { code: "endpoint_unreachable", detail: "endpoint x: closed" } })).toBe("✗ endpoint x: closed");
    expect(eventLine({ type: "chat_error", data: { code: "cancelled", detail: "gone" } })).toBe("stopped");
    expect(eventLine({ type: "chat_token", data: {} })).toBeNull();
  });

  it("says a suggestion was not run", () => {
    expect(suggestion({ label: "Restart Service", unit: "nginx.service" })).toBe("suggested: Restart Service nginx.service (not run)");
    expect(suggestion({ label: "Run Backup", target: "backup-timer-borg" })).toBe("suggested: Run Backup backup-timer-borg (not run)");
    expect(suggestion({ label: "Restart Service", unit: "hb.service", status: "pending" })).toBe(
      "suggested: Restart Service hb.service (waiting for your approval under Approvals)",
    );
    expect(suggestion({ label: "Restart Service", unit: "hb.service", status: "refused", refused: "too unsure" })).toBe(
      "suggested: Restart Service hb.service (refused: too unsure)",
    );
  });
});


describe("@ completion", () => {
  const all = [
    { mention: "@storage", title: "Storage" },
    { mention: "@service", title: "Services" },
    { mention: "@service-nginx", title: "nginx.service" },
    { mention: "@disk-sda", title: "WDC WD40 (sda)" },
  ];
  it("finds the word being typed after an @", () => {
    expect(mentionAt("check @ser", 10)).toEqual({ start: 6, word: "ser" });
    expect(mentionAt("@", 1)).toEqual({ start: 0, word: "" });
    expect(mentionAt("mail a@b", 8)).toBeNull();
    expect(mentionAt("done @x now", 11)).toBeNull();
  });
  it("offers the mentions that start with it, then those that contain it", () => {
    expect(completeMention(all, "ser").map((m) => m.mention)).toEqual(["@service", "@service-nginx"]);
    expect(completeMention(all, "sda").map((m) => m.mention)).toEqual(["@disk-sda"]);
    expect(completeMention(all, "", 2)).toHaveLength(2);
  });
  it("replaces the typed word and leaves the caret after it", () => {
    expect(insertMention("check @ser now", 6, 10, "@service-nginx")).toEqual({ text: "check @service-nginx  now", caret: 21 });
  });
});
