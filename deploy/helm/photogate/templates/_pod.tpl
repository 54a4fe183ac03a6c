{{/*
photogate.podTemplate: the pod, the same for the bbolt StatefulSet and the
PostgreSQL Deployment except where the comments say: with PostgreSQL the
index URL comes from its Secret, the data dir is an emptyDir, the pod
drains on SIGTERM and is spread over nodes and zones.
*/}}
{{- define "photogate.podTemplate" -}}
metadata:
  labels:
    {{- include "photogate.selector" . | nindent 4 }}
  annotations:
    # A changed configuration rolls the pod (SIGHUP reloads it in place
    # too, for users and policy, when the file is replaced).
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
spec:
  {{- if include "photogate.postgres" . }}
  # After SIGTERM photogate fails /readyz and keeps serving for
  # shutdownDrain, while the endpoint leaves the Services, then gives
  # in-flight requests shutdown_timeout; 5 s more before the kill.
  terminationGracePeriodSeconds: {{ include "photogate.terminationGracePeriod" . }}
  {{- else }}
  terminationGracePeriodSeconds: 40 # photogate drains for up to 30 s
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: photogate
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [serve]
      ports:
        - {name: s3, containerPort: 9080}
        - {name: admin, containerPort: 9081}
      env:
        - {name: PHOTOGATE_LISTEN, value: "0.0.0.0:9080"}
        - {name: PHOTOGATE_ADMIN_LISTEN, value: "0.0.0.0:9081"}
        - {name: PHOTOGATE_DATA_DIR, value: /var/lib/photogate}
        - {name: PHOTOGATE_CONFIG, value: /etc/photogate/photogate.yaml}
        - {name: PHOTOGATE_BACKEND_ENDPOINT, value: {{ required "backend.endpoint is required (photogate's embedded backend is for trying it out, not for Kubernetes)" .Values.backend.endpoint | quote }}}
        - {name: PHOTOGATE_BACKEND_REGION, value: {{ .Values.backend.region | quote }}}
        {{- if .Values.backend.ca }}
        - {name: PHOTOGATE_BACKEND_CA, value: /etc/photogate/backend-ca/ca.crt}
        {{- end }}
        {{- with .Values.resources.limits }}{{ with .memory }}{{ if $.Values.goMemLimitPercent }}
        # The Go runtime does not read the cgroup's limit: without this
        # the heap grows until the kernel kills the pod, instead of the
        # GC working harder near the limit (docs/tuning.md).
        - {name: GOMEMLIMIT, value: {{ div (mul (include "photogate.bytes" . | int64) (int64 $.Values.goMemLimitPercent)) 100 | quote }}}
        {{- end }}{{ end }}{{ end }}
        - name: PHOTOGATE_BACKEND_ACCESS_KEY
          valueFrom: {secretKeyRef: {name: {{ include "photogate.secretName" . }}, key: backend-access-key}}
        - name: PHOTOGATE_BACKEND_SECRET_KEY
          valueFrom: {secretKeyRef: {name: {{ include "photogate.secretName" . }}, key: backend-secret-key}}
        - name: PHOTOGATE_ADMIN_TOKEN
          valueFrom: {secretKeyRef: {name: {{ include "photogate.secretName" . }}, key: admin-token, optional: true}}
        - name: PHOTOGATE_ACCESS_KEY
          valueFrom: {secretKeyRef: {name: {{ include "photogate.secretName" . }}, key: access-key, optional: true}}
        - name: PHOTOGATE_SECRET_KEY
          valueFrom: {secretKeyRef: {name: {{ include "photogate.secretName" . }}, key: secret-key, optional: true}}
        {{- if include "photogate.postgres" . }}
        # The shared index: a postgres:// URL, with its password, so only
        # ever from a Secret.
        - name: PHOTOGATE_INDEX_URL
          valueFrom: {secretKeyRef: {name: {{ .Values.index.postgres.existingSecret }}, key: {{ .Values.index.postgres.key }}}}
        - {name: PHOTOGATE_SHUTDOWN_DRAIN, value: {{ .Values.shutdownDrain | quote }}}
        {{- end }}
      startupProbe:
        # Start-up resolves write intents a crash left behind before
        # the admin port answers; give it time.
        httpGet: {path: /healthz, port: admin}
        periodSeconds: 5
        failureThreshold: 30
      livenessProbe:
        httpGet: {path: /healthz, port: admin}
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        # Not ready while the backend, the index or the data disk fails:
        # traffic goes elsewhere (or waits) instead of erroring.
        httpGet: {path: /readyz, port: admin}
        {{- if include "photogate.postgres" . }}
        # Probed often enough that a draining replica ("serving" fails at
        # SIGTERM) leaves the endpoints well within shutdownDrain.
        periodSeconds: 2
        failureThreshold: 1
        # photogate's own checks give up after 2 s: a probe that gives up
        # first would drop a replica for one slow check.
        timeoutSeconds: 3
        {{- else }}
        periodSeconds: 5
        failureThreshold: 2
        {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - {name: data, mountPath: /var/lib/photogate}
        - {name: config, mountPath: /etc/photogate, readOnly: true}
        - {name: tmp, mountPath: /tmp}
        {{- if .Values.usersSecret }}
        - {name: users, mountPath: /run/secrets/photogate-users, readOnly: true}
        {{- end }}
        {{- if .Values.backend.ca }}
        - {name: backend-ca, mountPath: /etc/photogate/backend-ca, readOnly: true}
        {{- end }}
  volumes:
    {{- if include "photogate.postgres" . }}
    # The index is in PostgreSQL: nothing durable lives in the data dir.
    - name: data
      emptyDir: {}
    {{- end }}
    - name: config
      configMap: {name: {{ include "photogate.fullname" . }}}
    - name: tmp
      emptyDir: {}
    {{- if .Values.usersSecret }}
    - name: users
      secret: {secretName: {{ .Values.usersSecret }}, defaultMode: 0400}
    {{- end }}
    {{- if .Values.backend.ca }}
    - name: backend-ca
      configMap: {name: {{ .Values.backend.ca }}}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if include "photogate.postgres" . }}
  {{- if kindIs "invalid" .Values.topologySpreadConstraints }}
  # One replica per node where the nodes allow it, and across zones where
  # there are any: a lost node or zone takes out as few replicas as can be.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: DoNotSchedule
      labelSelector:
        matchLabels:
          {{- include "photogate.selector" . | nindent 10 }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "photogate.selector" . | nindent 10 }}
  {{- else if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- end }}
  {{- end }}
{{- end -}}
