// Removes compiled JavaScript from nodes/ so that a renamed or deleted source file never
// leaves a stale module in the packed tarball. Hand-written editor files (.html, .json, icons) stay.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
function sweep(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      sweep(full);
      if (fs.readdirSync(full).length === 0) fs.rmdirSync(full);
    } else if (/\.js(\.map)?$/.test(entry.name)) {
      fs.rmSync(full);
    }
  }
}
sweep(path.join(__dirname, '..', 'nodes'));
