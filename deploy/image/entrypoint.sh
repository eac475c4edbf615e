#!/bin/sh
# The image's entrypoint (after tini): starts ckc-agent from the folder install.sh filled.
#
# umask 0007: the agent's Unix socket, and the folders it creates, are then usable by its group
# and no one else. TaskManager pods join that group (supplementalGroups in
# deploy/kubernetes/flink-taskmanager-pod-template.yaml) to connect; connecting to a Unix socket
# needs write permission on it, which the default umask 0022 gives the owner only. Entry files
# are written 0640 by the agent. This goes away when the agent sets the socket's mode and group
# itself (issue 6, "Security").
#
# exec: node replaces this shell, so the SIGTERM tini forwards reaches the agent, which drains.
# The file is run, not `node <file>`: its shebang carries the agent's V8 flags (see there).
umask 0007
exec "$(dirname "$0")/agents/node-agent/bin/ckc-agent.js" "$@"
