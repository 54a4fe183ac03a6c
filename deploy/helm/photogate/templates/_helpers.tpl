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
photogate.validate fails the install on values that would deploy a pod that
cannot start, instead of leaving it to crash-loop.
*/}}
{{- define "photogate.validate" -}}
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
