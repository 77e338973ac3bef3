// The benchmark fleet's Harbor instance of one core (agent/bench/generate-fleet.ts): projects, endpoints,
// robots and replication the way the example fleet declares them. Apart so that generate-fleet.ts stays short.

/** What a core's Harbor file needs of its area. */
interface HarborSite {
  area: 'cn' | 'overseas';
  harbor: string;
  hub: string;
  hubCloudRegion: string;
}

export function harborFile(spec: HarborSite, hubAddress: (host: number) => string): string {
  const isCn = spec.area === 'cn';
  const short = isCn ? 'bj' : 'sg';
  const replication = isCn
    ? `replication:
  - name: to-singapore
    description: every push in library and base goes overseas
    source: harbor-cn-beijing
    destination: harbor-ap-singapore
    filters:
      - type: name
        value: "{library,base}/**"
    trigger:
      type: event_based
    deletion: false
    override: true
    copyByChunk: true
  - name: nightly-full-sync
    description: catches anything an event missed
    source: harbor-cn-beijing
    destination: harbor-ap-singapore
    filters:
      - type: name
        value: "{library,base}/**"
    trigger:
      type: scheduled
      cron: "0 0 3 * * *"
    speedKbps: 512000
    copyByChunk: true
`
    : '';
  return `# yaml-language-server: $schema=../agent/schemas/harbor-instance.schema.json
kind: HarborInstance
name: ${spec.harbor}
hub: ${spec.hub}
version: v2.15.2
hostname: harbor.${short}.mirrornet.internal
externalUrl: https://harbor.${short}.mirrornet.internal
loadBalancer:
  mode: l7-tls-offload
installDir: /opt/harbor
adminPassword: env:HARBOR_ADMIN_PASSWORD
database:
  host: ${hubAddress(20)}
  port: 5432
  dbName: harbor
  username: harbor
  password: env:HARBOR_DB_PASSWORD
  sslMode: require
redis:
  host: ${hubAddress(30)}:6379
  password: env:HARBOR_REDIS_PASSWORD
  registryDbIndex: 1
  jobserviceDbIndex: 2
  trivyDbIndex: 5
storage:
  s3:
    accesskey: env:HARBOR_S3_ACCESS_KEY
    secretkey: env:HARBOR_S3_SECRET_KEY
    region: ${spec.hubCloudRegion}
    regionendpoint: https://s3.${short}.mirrornet.internal
    bucket: ${spec.harbor}
    secure: true
    v4auth: true
    chunksize: 33554432
    rootdirectory: /registry
  redirect:
    disable: true
metrics:
  enabled: true
endpoints:
  - name: docker-hub
    type: docker-hub
    url: https://hub.docker.com
projects:
  - name: library
    public: false
    quota: 2Ti
  - name: base
    public: true
    quota: 500Gi
  - name: dockerhub
    public: true
    quota: 1Ti
    proxyCache:
      endpoint: docker-hub
robots:
  - name: ${isCn ? 'ci-push' : 'replication-from-beijing'}
    secret: env:HARBOR_ROBOT_${isCn ? 'CI_PUSH' : 'REPLICATION'}
    permissions:
      - project: library
        access: [repository:push, repository:pull, artifact:read]
      - project: base
        access: [repository:push, repository:pull, artifact:read]
${replication}`;
}
