{{/* The chart's name, for the app.kubernetes.io/name label. */}}
{{- define "k8s-event-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name for every object: RELEASE-k8s-event-collector, or RELEASE when it already contains the
chart's name. Lease, checkpoint ConfigMap and roles derive from it, so two releases never share one.
*/}}
{{- define "k8s-event-collector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "k8s-event-collector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select this release's pods. */}}
{{- define "k8s-event-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "k8s-event-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "k8s-event-collector.labels" -}}
helm.sh/chart: {{ include "k8s-event-collector.chart" . }}
{{ include "k8s-event-collector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "k8s-event-collector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "k8s-event-collector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The subject of every binding: the collector's ServiceAccount. */}}
{{- define "k8s-event-collector.subject" -}}
- kind: ServiceAccount
  name: {{ include "k8s-event-collector.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* The Lease of the leader election and the checkpoint ConfigMap: named after the release. */}}
{{- define "k8s-event-collector.leaseName" -}}
{{- include "k8s-event-collector.fullname" . }}
{{- end }}
{{- define "k8s-event-collector.checkpointName" -}}
{{- printf "%s-checkpoint" (include "k8s-event-collector.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}
{{- define "k8s-event-collector.configName" -}}
{{- printf "%s-config" (include "k8s-event-collector.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}


{{/* The read rules of the source and the enricher. */}}
{{- define "k8s-event-collector.readRules" -}}
# The source: list, then watch from the list's resourceVersion. Only one Event API is read at a time (--api);
# both are granted so that switching needs no RBAC change.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["list", "watch"]
# Enrichment: the owner chain is kept by list+watch caches of pods, ReplicaSets and Jobs, with a GET for an
# object not yet in them; a workload an event is about is read with a GET for its labels and annotations.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get"]
{{- end }}

{{/* The cluster's uid. A Namespace is a cluster-scoped object: a ClusterRole grants this, whatever rbac.scope is. */}}
{{- define "k8s-event-collector.clusterUidRules" -}}
# k8s.cluster.uid is the uid of the kube-system namespace: one get of that one namespace, at start.
- apiGroups: [""]
  resources: ["namespaces"]
  resourceNames: ["kube-system"]
  verbs: ["get"]
{{- end }}

{{/* Where the TLS Secret is mounted. */}}
{{- define "k8s-event-collector.tlsDir" -}}
/etc/k8s-event-collector/tls
{{- end }}

{{/*
The collector's configuration file: what the chart derives from its values (the endpoint, leader election, the
checkpoint, the listen address, the namespaces of rbac.scope=namespaces, TLS files), then .Values.config.
values.schema.json keeps the derived keys out of .Values.config, so the two never disagree.
*/}}
{{- define "k8s-event-collector.config" -}}
{{- $derived := dict "otlpEndpoint" .Values.otlp.endpoint "otlpProtocol" .Values.otlp.protocol }}
{{- $_ := set $derived "listen" (printf "0.0.0.0:%d" (int .Values.containerPorts.metrics)) }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $_ := set $derived "leaderElect" true }}
{{- $_ := set $derived "lease" (printf "%s/%s" .Release.Namespace (include "k8s-event-collector.leaseName" .)) }}
{{- end }}
{{- if .Values.checkpoint.enabled }}
{{- $_ := set $derived "checkpoint" (printf "configmap:%s/%s" .Release.Namespace (include "k8s-event-collector.checkpointName" .)) }}
{{- end }}
{{- if eq .Values.rbac.scope "namespaces" }}
{{- $_ := set $derived "namespaces" .Values.rbac.namespaces }}
{{- end }}
{{- with .Values.otlp.tls }}
{{- if .secretName }}
{{- $dir := include "k8s-event-collector.tlsDir" $ }}
{{- if .caKey }}{{ $_ := set $derived "otlpCertificate" (printf "%s/%s" $dir .caKey) }}{{ end }}
{{- if .certKey }}{{ $_ := set $derived "otlpClientCertificate" (printf "%s/%s" $dir .certKey) }}{{ end }}
{{- if .keyKey }}{{ $_ := set $derived "otlpClientKey" (printf "%s/%s" $dir .keyKey) }}{{ end }}
{{- end }}
{{- end }}
{{- toYaml (merge $derived (deepCopy .Values.config)) }}
{{- end }}

{{/* The image: repository@digest when a digest is set, else repository:tag (the appVersion by default). */}}
{{- define "k8s-event-collector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
