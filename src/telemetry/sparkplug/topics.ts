/** Sparkplug B 3.0 topics: `spBv1.0/<group>/<type>/<edge node>[/<device>]` and the host's `spBv1.0/STATE/<host>`. */

export const NAMESPACE = 'spBv1.0';

export type NodeMessage = 'NBIRTH' | 'NDATA' | 'NDEATH' | 'NCMD';
export type DeviceMessage = 'DBIRTH' | 'DDATA' | 'DDEATH' | 'DCMD';

export interface SparkplugTopics {
  node(type: NodeMessage): string;
  device(type: DeviceMessage, device: string): string;
  /** NCMD and DCMD of this node */
  commandFilters: string[];
  /** the device id of a DCMD topic, or null for an NCMD or a topic not ours */
  commandTarget(topic: string): { type: 'NCMD' } | { type: 'DCMD'; device: string } | null;
  state(host: string): string;
}

export function sparkplugTopics(group: string, node: string): SparkplugTopics {
  const base = (type: string) => `${NAMESPACE}/${group}/${type}/${node}`;
  return {
    node: (type) => base(type),
    device: (type, device) => `${base(type)}/${device}`,
    commandFilters: [base('NCMD'), `${base('DCMD')}/+`],
    commandTarget(topic) {
      if (topic === base('NCMD')) return { type: 'NCMD' };
      const prefix = `${base('DCMD')}/`;
      if (topic.startsWith(prefix) && topic.length > prefix.length) return { type: 'DCMD', device: topic.slice(prefix.length) };
      return null;
    },
    state: (host) => `${NAMESPACE}/STATE/${host}`,
  };
}

/** Ids become topic levels; the same rule as the config schema, for ids that come from elsewhere (arm ids). */
export function sparkplugId(s: string, what: string): string {
  if (!/^[^+#/\s]+$/.test(s)) throw new Error(`${what} "${s}" cannot be a Sparkplug id (no /, +, # or spaces)`);
  return s;
}
