{{/*
Common labels. Names are fixed (overlaynet-manager, overlaynet-agent, ...) rather than
derived from the release: overlaynet is a per-cluster singleton, its leader-election lease
name is fixed in cmd/manager, and the kustomize install uses the same names and selectors,
so that moving from one to the other keeps every object.
*/}}
{{- define "overlaynet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: overlaynet
app.kubernetes.io/part-of: overlaynet
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Selector labels: the same as config/ uses, and immutable once a workload exists.
*/}}
{{- define "overlaynet.selectorLabels" -}}
app.kubernetes.io/name: overlaynet
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image reference: repository, then @digest or :tag (the chart's appVersion by default).
*/}}
{{- define "overlaynet.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
A map without its empty entries (null, "", [], {}); false and 0 are kept. Used for the
OverlayCluster spec, so that a field left out of the values takes the CRD's default.
*/}}
{{- define "overlaynet.compact" -}}
{{- $out := dict -}}
{{- range $k, $v := . -}}
{{- if or (kindIs "bool" $v) (kindIs "float64" $v) (kindIs "int" $v) (kindIs "int64" $v) $v -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end }}
