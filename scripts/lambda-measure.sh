#!/usr/bin/env bash
# Measures the four Lambda functions as built by `cargo lambda build --release`
# (x86_64 on a development machine): the zipped size of each `bootstrap`, and
# its cold start (process start -> ready for the first event, and the first
# invoke) through scripts/lambda-cold-start.py, against DynamoDB Local, the
# SQS emulator and the CRM sandbox on loopback. Prints JSON lines.
#
# Usage: scripts/lambda-measure.sh [LAMBDA_DIR] [RUNS]
#   LAMBDA_DIR  holds <function>/bootstrap[.zip] (default target/lambda)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lambda_dir="${1:-target/lambda}"
runs="${2:-5}"
py="$root/.tools/venv/bin/python"
functions=(crm-sync-webhook crm-sync-sweep crm-sync-import crm-sync-sync-worker)

# Zipped sizes: the archive sam/cargo-lambda upload (deflate, as Lambda takes it).
for f in "${functions[@]}"; do
  "$py" - "$lambda_dir/$f" "$f" <<'EOF'
import json, os, sys, tempfile, zipfile
d, name = sys.argv[1], sys.argv[2]
binary = os.path.join(d, "bootstrap")
if not os.path.exists(binary):
    with zipfile.ZipFile(os.path.join(d, "bootstrap.zip")) as z:
        z.extract("bootstrap", d)
    os.chmod(binary, 0o755)
with tempfile.TemporaryDirectory() as t:
    out = os.path.join(t, "bootstrap.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(binary, "bootstrap")
    print(json.dumps({"function": name, "binary_bytes": os.path.getsize(binary),
                      "zip_bytes": os.path.getsize(out)}))
EOF
done

# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh
emulators_start
sandbox_pid=""
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; fi
  emulators_stop
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
sf_port="$(free_port)"; hs_port="$(free_port)"
cargo build -q -p crm-sandbox --bin crm-sandbox
target/debug/crm-sandbox --salesforce-addr "127.0.0.1:$sf_port" --hubspot-addr "127.0.0.1:$hs_port" \
  --sf-contacts 50 --hs-contacts 50 --seed-crm-sync-fields >/dev/null 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$hs_port/" && break
  sleep 0.1
done

# The stack's tables and queues, as the template makes them (docs/storage.md).
eval "$("$py" - <<'EOF'
import boto3, uuid
suffix = uuid.uuid4().hex[:8]
ddb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
state, seen = f"state-{suffix}", f"seen-{suffix}"
ddb.create_table(TableName=state, BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    GlobalSecondaryIndexes=[{"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}]}])
ddb.create_table(TableName=seen, BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
def pair(name, receives):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"{name}-{suffix}", Attributes={"VisibilityTimeout": "60",
        "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":"%d"}' % (arn, receives)})["QueueUrl"]
    return url, dlq
sync, sync_dlq = pair("sync", 8)
chunks, chunks_dlq = pair("chunks", 5)
for k, v in [("CRM_SYNC_STATE_TABLE", state), ("CRM_SYNC_SEEN_EVENTS_TABLE", seen),
             ("CRM_SYNC_SYNC_QUEUE_URL", sync), ("CRM_SYNC_SYNC_DLQ_URL", sync_dlq),
             ("CRM_SYNC_CHUNK_QUEUE_URL", chunks), ("CRM_SYNC_CHUNK_DLQ_URL", chunks_dlq)]:
    print(f"export {k}='{v}'")
EOF
)"
export CRM_SYNC_SALESFORCE_LOGIN_URL="http://127.0.0.1:$sf_port"
export CRM_SYNC_HUBSPOT_BASE_URL="http://127.0.0.1:$hs_port"
export CRM_SYNC_CREDENTIALS='{"salesforce_client_id":"crm-sync-sandbox","salesforce_client_secret":"sandbox-secret","hubspot_access_token":"pat-na1-11111111-2222-4333-8444-555555555555","hubspot_client_secret":"sandbox-hubspot-client-secret"}'
export RUST_LOG=warn

# A HubSpot delivery signed now with the sandbox's client secret.
events="$(mktemp -d)"
"$py" - "$events/webhook.json" <<'EOF'
import base64, hashlib, hmac, json, sys, time
event = json.load(open("events/webhook-hubspot.json"))
ts = str(int(time.time() * 1000))
uri = "https://" + event["headers"]["host"] + event["rawPath"]
body = event["body"]
event["headers"]["x-hubspot-request-timestamp"] = ts
event["headers"]["x-hubspot-signature-v3"] = base64.b64encode(hmac.new(
    b"sandbox-hubspot-client-secret", ("POST" + uri + body + ts).encode(), hashlib.sha256).digest()).decode()
json.dump(event, open(sys.argv[1], "w"))
EOF

measure() {
  "$py" scripts/lambda-cold-start.py "$lambda_dir/$1/bootstrap" "$2" --runs "$runs" --name "$1"
}
measure crm-sync-webhook "$events/webhook.json"
measure crm-sync-sweep events/sweep-schedule.json
measure crm-sync-import events/import-review.json
measure crm-sync-sync-worker events/sync-worker-sqs.json
rm -rf "$events"
