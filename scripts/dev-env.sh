# Development only, until `intranode env` exists: source with STATE_DIR and PORT set to point
# the real gcloud and kubectl at a daemon started with
#   .venv/bin/python -m intranode.daemon --state-dir "$STATE_DIR" --port "$PORT"
: "${STATE_DIR:?set STATE_DIR}" "${PORT:?set PORT}"
export CLOUDSDK_CONFIG="$STATE_DIR/gcloud"
export KUBECONFIG="$STATE_DIR/kubeconfig"
export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_CORE_CHECK_GCE_METADATA=false
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true
mkdir -p "$CLOUDSDK_CONFIG"
gcloud config set auth/access_token_file "$STATE_DIR/token" >/dev/null 2>&1
gcloud config set core/project "${PROJECT:-intranode-demo}" >/dev/null 2>&1
gcloud config set core/account intranode@intranode.local >/dev/null 2>&1
for api in container logging serviceusage networkmanagement; do
  gcloud config set "api_endpoint_overrides/$api" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
done
gcloud config set api_endpoint_overrides/compute "http://127.0.0.1:$PORT/compute/v1/" >/dev/null 2>&1
gcloud config set compute/region us-central1 >/dev/null 2>&1
gcloud config set compute/zone us-central1-a >/dev/null 2>&1
