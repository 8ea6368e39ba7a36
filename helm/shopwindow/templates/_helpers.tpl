{{/* Names. */}}
{{- define "shopwindow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shopwindow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "shopwindow.gateway.fullname" -}}
{{- printf "%s-gateway" (include "shopwindow.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shopwindow.materializer.fullname" -}}
{{- printf "%s-materializer" (include "shopwindow.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shopwindow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shopwindow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels: common ones, and the selector of one role (pass dict "context" . "role" "gateway"). */}}
{{- define "shopwindow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "shopwindow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "shopwindow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shopwindow.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "shopwindow.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The image reference; a digest wins over a tag. */}}
{{- define "shopwindow.image" -}}
{{- $repository := printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Secrets. */}}
{{- define "shopwindow.secretName" -}}
{{- include "shopwindow.fullname" . -}}
{{- end -}}

{{- define "shopwindow.mongodbSecretName" -}}
{{- default (include "shopwindow.secretName" .) .Values.mongodb.existingSecret -}}
{{- end -}}

{{- define "shopwindow.mongodbSecretKey" -}}
{{- if .Values.mongodb.existingSecret -}}{{ .Values.mongodb.existingSecretUriKey }}{{- else -}}mongodb-uri{{- end -}}
{{- end -}}

{{- define "shopwindow.authSecretName" -}}
{{- default (include "shopwindow.secretName" .) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret key and value of the configured token verification mode. */}}
{{- define "shopwindow.jwtKey" -}}
{{- $keys := dict "hs256" "jwt-hs256-secret" "rs256-public-key" "jwt-public-key.pem" "rs256-jwks" "jwt-jwks.json" -}}
{{- get $keys .Values.auth.jwt.mode -}}
{{- end -}}

{{- define "shopwindow.jwtValue" -}}
{{- $values := dict "hs256" .Values.auth.jwt.hs256Secret "rs256-public-key" .Values.auth.jwt.publicKey "rs256-jwks" .Values.auth.jwt.jwks -}}
{{- get $values .Values.auth.jwt.mode -}}
{{- end -}}

{{/* Pod parts both roles share. */}}
{{- define "shopwindow.podCommon" -}}
serviceAccountName: {{ include "shopwindow.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "shopwindow.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "shopwindow.fullname" . }}
{{- end -}}

{{- define "shopwindow.mongodbUriEnv" -}}
- name: SHOPWINDOW_MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "shopwindow.mongodbSecretName" . }}
      key: {{ include "shopwindow.mongodbSecretKey" . }}
{{- end -}}

{{/* Probes on the role's real endpoints (pass dict "probe" .Values.x.livenessProbe "path" "/healthz"). */}}
{{- define "shopwindow.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* The markets file both roles read: its variable, mount and volume (markets.enabled). */}}
{{- define "shopwindow.marketsEnv" -}}
{{- if .Values.markets.enabled }}
- name: SHOPWINDOW_MARKETS_FILE
  value: /etc/shopwindow/markets/markets.json
{{- end }}
{{- end -}}

{{- define "shopwindow.marketsMount" -}}
{{- if .Values.markets.enabled }}
- name: markets
  mountPath: /etc/shopwindow/markets
  readOnly: true
{{- end }}
{{- end -}}

{{- define "shopwindow.marketsVolume" -}}
{{- if .Values.markets.enabled }}
- name: markets
  configMap:
    name: {{ include "shopwindow.fullname" . }}-markets
{{- end }}
{{- end -}}

{{- define "shopwindow.marketsChecksum" -}}
{{- if .Values.markets.enabled }}
checksum/markets: {{ include (print .Template.BasePath "/markets-configmap.yaml") . | sha256sum }}
{{- end }}
{{- end -}}
