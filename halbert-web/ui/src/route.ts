// The page and its parameters, from the URL's hash: `#/editor?path=/etc/x`. Pure except for
// hashParam, which reads location; route is tested by route.test.ts.

/** The page part of a hash: `#/editor?path=/etc/x` is `#/editor`; no hash is `#/`. */
export function route(hash: string): string {
  const page = hash.split("?")[0];
  return page === "" || page === "#" ? "#/" : page;
}

/** A parameter of the current hash (`#/editor?path=/etc/x` has `path`). */
export function hashParam(name: string): string | null {
  const qs = location.hash.split("?")[1];
  return qs ? new URLSearchParams(qs).get(name) : null;
}
