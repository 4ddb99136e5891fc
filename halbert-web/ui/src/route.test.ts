import { describe, expect, it } from "vitest";
import { route } from "./route";

describe("route", () => {
  it("takes the page from the hash", () => {
    expect(route("")).toBe("#/");
    expect(route("#")).toBe("#/");
    expect(route("#/")).toBe("#/");
    expect(route("#/editor?path=/etc/x")).toBe("#/editor");
    expect(route("#/terminal")).toBe("#/terminal");
  });
});
