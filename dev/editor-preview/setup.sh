#!/bin/sh
# Scratch Node-RED user dir for looking at the editor side of the package, outside the repo.
# Runtime files that do not exist yet (nodes/<type>.js) get a stub that only registers the type.
# Usage: sh dev/editor-preview/setup.sh [/tmp/h4-userdir] ; then
#        npx node-red -u /tmp/h4-userdir -p 1890 -s /tmp/h4-userdir/settings.js
set -e
REPO=$(cd "$(dirname "$0")/../.." && pwd)
USERDIR=${1:-/tmp/h4-userdir}
PKG=$USERDIR/pkg
rm -rf "$PKG" "$USERDIR/node_modules"
mkdir -p "$PKG/nodes" "$USERDIR/node_modules/@sangamcrm"
cp "$REPO/package.json" "$PKG/package.json"
ln -s "$REPO/nodes/locales" "$PKG/nodes/locales"
ln -s "$REPO/nodes/icons" "$PKG/nodes/icons"
for type in sangam-config sangam-call-log sangam-notify exotel-config exotel-click2call; do
  ln -s "$REPO/nodes/$type.html" "$PKG/nodes/$type.html"
  if [ -f "$REPO/nodes/$type.js" ]; then
    ln -s "$REPO/nodes/$type.js" "$PKG/nodes/$type.js"
  else
    case $type in
      sangam-config) creds="{ token: { type: 'password' } }" ;;
      exotel-config) creds="{ apiKey: { type: 'text' }, apiToken: { type: 'password' } }" ;;
      *) creds="{}" ;;
    esac
    cat > "$PKG/nodes/$type.js" <<STUB
// STUB (editor preview only): the runtime file did not exist when this was generated.
module.exports = function (RED) {
  function Stub(config) { RED.nodes.createNode(this, config); this.status({ fill: 'grey', shape: 'ring', text: RED._('$type.status.idle') }); }
  RED.nodes.registerType('$type', Stub, { credentials: $creds });
};
STUB
  fi
done
ln -s "$PKG" "$USERDIR/node_modules/@sangamcrm/node-red-telephony"
cat > "$USERDIR/package.json" <<JSON
{ "name": "h4-userdir", "private": true, "dependencies": { "@sangamcrm/node-red-telephony": "*" } }
JSON
cat > "$USERDIR/settings.js" <<'JS'
module.exports = {
  uiHost: '127.0.0.1',
  flowFile: 'flows.json',
  credentialSecret: 'editor-preview-only',
  telemetry: { enabled: false, updateNotification: false },
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info' } },
};
JS
echo "$USERDIR ready"
