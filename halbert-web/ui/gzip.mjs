// After `vite build`: a gzip copy beside each script and style in dist/static, which
// halbert-web (embedding dist/) sends to browsers that accept gzip. Compressed once here,
// never per request.
import fs from "node:fs";
import zlib from "node:zlib";

const dir = new URL("./dist/static/", import.meta.url);
for (const name of fs.readdirSync(dir)) {
  if (!/\.(js|css|svg)$/.test(name)) continue;
  const data = fs.readFileSync(new URL(name, dir));
  const gz = zlib.gzipSync(data, { level: 9 });
  fs.writeFileSync(new URL(name + ".gz", dir), gz);
  console.log(`${name}: ${data.length} bytes, ${gz.length} gzipped`);
}
