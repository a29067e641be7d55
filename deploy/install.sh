#!/usr/bin/env bash
# Installs wafer-inspect as a systemd service on this machine. Safe to run again (an upgrade): the
# user, folders and unit are brought to the state below, an existing config is never overwritten.
#   sudo deploy/install.sh [--prefix /opt/wafer-inspect] [--config FILE] [--no-start]
# Run from a built checkout (npm ci && npm run build) or an unpacked release.
set -euo pipefail

prefix=/opt/wafer-inspect
config_src=""
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --config) config_src=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

src=$(cd "$(dirname "$0")/.." && pwd)
user=wafer-inspect
etc=/etc/wafer-inspect
state=/var/lib/wafer-inspect
unit=/etc/systemd/system/wafer-inspect.service

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
node=$(command -v node) || { echo "install.sh: node (>= 20) is not on PATH" >&2; exit 1; }
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "install.sh: node $major found, >= 20 needed" >&2; exit 1; }
command -v systemd-notify >/dev/null || { echo "install.sh: systemd-notify is missing (package systemd)" >&2; exit 1; }
[ -f "$src/dist/src/cli/main.js" ] || { echo "install.sh: $src is not built; run npm ci && npm run build first" >&2; exit 1; }

# A system user with no login and no home of its own.
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir "$state" --shell /usr/sbin/nologin "$user"
fi

# The program: copied whole when installing from elsewhere, so the checkout can go away.
if [ "$src" != "$prefix" ]; then
  install -d -m 0755 "$prefix"
  for d in dist node_modules calibration models hardware deploy docs package.json; do
    [ -e "$src/$d" ] || continue
    rm -rf "${prefix:?}/$d.new"
    cp -a "$src/$d" "$prefix/$d.new"
    rm -rf "${prefix:?}/$d"
    mv "$prefix/$d.new" "$prefix/$d"
  done
  chown -R root:root "$prefix"
fi

# Config and state: systemd creates these too (ConfigurationDirectory, StateDirectory); made here so
# the config can be put in place before the first start.
install -d -m 0750 -o root -g "$user" "$etc"
install -d -m 0750 -o "$user" -g "$user" "$state"
if [ ! -e "$etc/config.yaml" ]; then
  install -m 0640 -o root -g "$user" "${config_src:-$src/deploy/wafer-inspect.example.yaml}" "$etc/config.yaml"
  echo "installed $etc/config.yaml: edit it, then: systemctl restart wafer-inspect"
elif [ -n "$config_src" ]; then
  echo "kept the existing $etc/config.yaml (not replaced by $config_src)"
fi
for f in recipe.example.yaml; do
  [ -e "$etc/$f" ] || install -m 0640 -o root -g "$user" "$src/deploy/$f" "$etc/$f"
done

# The unit, with this machine's node and install folder.
sed -e "s|/usr/bin/node|$node|" -e "s|/opt/wafer-inspect|$prefix|g" "$src/deploy/wafer-inspect.service" > "$unit.new"
chmod 0644 "$unit.new"
mv "$unit.new" "$unit"
systemd-analyze verify "$unit" || echo "install.sh: systemd-analyze verify reported problems (above)" >&2
systemctl daemon-reload

# Refuse to (re)start on a config the service would reject.
if ! "$node" "$prefix/dist/src/cli/main.js" run --config "$etc/config.yaml" --validate-config; then
  echo "install.sh: $etc/config.yaml has problems (above); fix them, then: systemctl enable --now wafer-inspect" >&2
  exit 1
fi
if [ "$start" -eq 1 ]; then
  systemctl enable wafer-inspect.service
  systemctl restart wafer-inspect.service
  systemctl --no-pager --lines=0 status wafer-inspect.service || true
fi
echo "done. health: curl -s http://127.0.0.1:9464/healthz   logs: journalctl -u wafer-inspect -f"
