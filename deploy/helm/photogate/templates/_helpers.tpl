{{- define "photogate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "photogate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "photogate.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "photogate.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "photogate.fullname" .) -}}
{{- end -}}

{{/*
photogate.bytes: a Kubernetes quantity ("512Mi", "1Gi", "1.5G", "536870912")
as a whole number of bytes. Helm has no quantity arithmetic, and a value the
chart cannot read fails the install instead of deriving a wrong limit.
*/}}
{{- define "photogate.bytes" -}}
{{- $quantity := kindIs "float64" . | ternary (int64 .) . | toString | trim -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity -}}
{{- $suffix := trimPrefix $number $quantity -}}
{{- $multipliers := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $number) (not (hasKey $multipliers $suffix)) -}}
{{- fail (printf "%q is not a quantity the chart can read: want a number with an optional k, M, G, T, Ki, Mi, Gi or Ti suffix" $quantity) -}}
{{- end -}}
{{- mulf (float64 $number) (get $multipliers $suffix) | floor | int64 -}}
{{- end -}}

{{/*
photogate.minFreeDisk: /readyz fails below this much free space on the
index volume. photogate's own default (1 GiB) would keep a pod on a 1Gi
volume unready for ever, so the chart scales it to the volume: a tenth of
persistence.size, at most 1 GiB.
*/}}
{{- define "photogate.minFreeDisk" -}}
{{- min (div (include "photogate.bytes" .Values.persistence.size | int64) 10) 1073741824 -}}
{{- end -}}

{{/*
photogate.generatesUser: with no S3 user anywhere (no config.users, no
secrets.accessKey, the chart's own Secret) photogate would refuse to start;
the chart then generates a first user's key pair into its Secret instead.
*/}}
{{- define "photogate.generatesUser" -}}
{{- if not (or .Values.secrets.existingSecret .Values.secrets.template .Values.secrets.accessKey .Values.config.users) -}}
true
{{- end -}}
{{- end -}}

{{/*
photogate.postgres: the index is in PostgreSQL (index.postgres.existingSecret
names the Secret holding its URL), so several replicas share it: a
Deployment, not the bbolt StatefulSet.
*/}}
{{- define "photogate.postgres" -}}
{{- if .Values.index.postgres.existingSecret -}}
true
{{- end -}}
{{- end -}}

{{/*
photogate.seconds: a Go duration ("10s", "1m30s", "500ms") as whole
seconds, rounded up. Helm cannot parse durations, and a value the chart
cannot read fails the install instead of deriving a wrong grace period.
*/}}
{{- define "photogate.seconds" -}}
{{- $d := toString . | trim -}}
{{- if not (regexMatch "^(0|([0-9]+(\\.[0-9]+)?(h|ms|m|s))+)$" $d) -}}
{{- fail (printf "%q is not a duration the chart can read: want e.g. 10s, 1m30s or 500ms (units h, m, s, ms)" $d) -}}
{{- end -}}
{{- $units := dict "h" 3600 "m" 60 "s" 1 "ms" 0.001 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(h|ms|m|s)" $d -1 -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $total = addf $total (mulf (float64 $number) (get $units (trimPrefix $number .))) -}}
{{- end -}}
{{- ceil $total | int64 -}}
{{- end -}}

{{/*
photogate.replicas: the Deployment's replica count with the PostgreSQL
index (default 2). photogate.hpaMinReplicas / photogate.hpaMaxReplicas: the
autoscaler's bounds, by default 1..1 with bbolt and 2..4 with PostgreSQL.
*/}}
{{- define "photogate.replicas" -}}
{{- if kindIs "invalid" .Values.replicas -}}2{{- else -}}{{ int .Values.replicas }}{{- end -}}
{{- end -}}
{{- define "photogate.hpaMinReplicas" -}}
{{- if not (kindIs "invalid" .Values.autoscaling.minReplicas) -}}{{ int .Values.autoscaling.minReplicas }}
{{- else if include "photogate.postgres" . -}}2
{{- else -}}1
{{- end -}}
{{- end -}}
{{- define "photogate.hpaMaxReplicas" -}}
{{- if not (kindIs "invalid" .Values.autoscaling.maxReplicas) -}}{{ int .Values.autoscaling.maxReplicas }}
{{- else if include "photogate.postgres" . -}}{{ max 4 (include "photogate.hpaMinReplicas" . | int) }}
{{- else -}}1
{{- end -}}
{{- end -}}

{{/*
photogate.terminationGracePeriod: with the PostgreSQL index photogate
drains for shutdownDrain after SIGTERM (/readyz failing, still serving),
then gives in-flight requests config.shutdown_timeout (photogate's default
30s), so the kubelet must wait at least that long, plus 5 s, before it
kills the container.
*/}}
{{- define "photogate.terminationGracePeriod" -}}
{{- $drain := include "photogate.seconds" .Values.shutdownDrain | int -}}
{{- $timeout := include "photogate.seconds" (.Values.config.shutdown_timeout | default "30s") | int -}}
{{- add $drain $timeout 5 -}}
{{- end -}}

{{/*
photogate.validate fails the install on values that would deploy a pod that
cannot start, instead of leaving it to crash-loop.
*/}}
{{- define "photogate.validate" -}}
{{- if include "photogate.postgres" . -}}
{{- if not .Values.index.postgres.key -}}
{{- fail "index.postgres.key must name the key of the PostgreSQL URL in Secret index.postgres.existingSecret" -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if lt (include "photogate.hpaMinReplicas" . | int) 2 -}}
{{- fail "autoscaling.minReplicas < 2: with the PostgreSQL index photogate runs at least two replicas, so that a rolling update or a node drain never leaves it with none" -}}
{{- end -}}
{{- if lt (include "photogate.hpaMaxReplicas" . | int) (include "photogate.hpaMinReplicas" . | int) -}}
{{- fail "autoscaling.maxReplicas < autoscaling.minReplicas" -}}
{{- end -}}
{{- else if lt (include "photogate.replicas" . | int) 2 -}}
{{- fail "replicas < 2: with the PostgreSQL index photogate runs at least two replicas (or set autoscaling.enabled with minReplicas >= 2); for one instance, use the bbolt index (no index.postgres.existingSecret)" -}}
{{- end -}}
{{- else -}}
{{- if and (not (kindIs "invalid" .Values.replicas)) (gt (int .Values.replicas) 1) -}}
{{- fail "replicas > 1: the bbolt index is held by one process, so photogate runs as one replica; several replicas need the PostgreSQL index (index.postgres.existingSecret)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (include "photogate.hpaMaxReplicas" . | int) 1) -}}
{{- fail "autoscaling.maxReplicas > 1: the bbolt index is held by one process, so photogate runs as one replica; several replicas need the PostgreSQL index (index.postgres.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- if ne (empty .Values.secrets.accessKey) (empty .Values.secrets.secretKey) -}}
{{- fail "secrets.accessKey and secrets.secretKey must be set together" -}}
{{- end -}}
{{- if and .Values.secrets.existingSecret (not .Values.config.users) -}}
{{- /* Only an install against a cluster can look; helm template sees nothing. */ -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.secrets.existingSecret -}}
{{- if and $existing (not (dig "data" "access-key" "" $existing)) -}}
{{- fail (printf "no S3 user: Secret %s has no access-key/secret-key and config.users is empty; add one or the other" .Values.secrets.existingSecret) -}}
{{- end -}}
{{- end -}}
{{- end -}}
