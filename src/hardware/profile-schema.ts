import { z } from 'zod';

/**
 * A hardware profile: how to reach one arm or cell and what its registers mean. Register maps are
 * data, per device, because vendors differ (Universal Robots: 16-bit general-purpose registers
 * 128–255; FANUC: holding registers only; KUKA through gateways).
 */

const unitId = z.number().int().min(0).max(255).describe('Modbus unit (slave) id; 255 or 0 where the device ignores it');
const timeoutMs = z.number().int().positive().default(1000).describe('longest wait for one answer');

const modbusTcp = z
  .object({
    kind: z.literal('modbus-tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(502),
    unitId: unitId.default(1),
    timeoutMs,
  })
  .strict();

const modbusRtu = z
  .object({
    kind: z.literal('modbus-rtu'),
    path: z.string().min(1).describe('serial device, e.g. /dev/ttyUSB0'),
    baudRate: z.number().int().positive().default(19200),
    parity: z.enum(['none', 'even', 'odd']).default('even'),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
    unitId: unitId.default(1),
    timeoutMs,
  })
  .strict();

const mqtt = z
  .object({
    kind: z.literal('mqtt'),
    commandTopic: z.string().min(1).describe('where a correction is published'),
    stateTopic: z.string().min(1).describe('where the arm confirms what it applied'),
    timeoutMs,
  })
  .strict();

export const transportSchema = z.discriminatedUnion('kind', [modbusTcp, modbusRtu, mqtt]);

export const REGISTER_TYPES = ['uint16', 'int16', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

const address = z.number().int().min(0).max(65535);

const parameter = z
  .object({
    address: address.optional().describe('first holding register (0-based protocol address); required for Modbus'),
    type: z.enum(REGISTER_TYPES).default('uint16'),
    wordOrder: z.enum(['high-first', 'low-first']).default('high-first').describe('float32 only: which register holds the high word'),
    scale: z.number().positive().default(1).describe('engineering value = register value x scale'),
    unit: z.string().default(''),
    min: z.number().describe('lowest value ever written, engineering units'),
    max: z.number().describe('highest value ever written, engineering units'),
    maxStep: z.number().describe('largest change in one move, engineering units'),
    writable: z.boolean().default(false),
    nominal: z.number().optional().describe('the value the process is set up for (the simulator starts here)'),
    description: z.string().optional(),
  })
  .strict();

const heartbeat = z
  .object({
    address,
    periodMs: z.number().int().positive().default(1000).describe('the appliance writes an incrementing counter this often'),
  })
  .strict();

const singleRegister = z.object({ address }).strict();

export const profileSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    description: z.string().optional(),
    transport: transportSchema,
    parameters: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'a name of letters and digits'), parameter).refine((p) => Object.keys(p).length > 0, 'at least one parameter'),
    heartbeat: heartbeat.optional(),
    sequence: singleRegister.optional().describe('the appliance writes a new number here to commit a move'),
    ack: singleRegister.optional().describe('the arm copies the sequence number here once it has applied the move'),
  })
  .strict()
  .superRefine((p, ctx) => {
    const modbus = p.transport.kind !== 'mqtt';
    for (const [name, q] of Object.entries(p.parameters)) {
      const at = (key: string) => ['parameters', name, key];
      if (!(q.min < q.max)) ctx.addIssue({ code: 'custom', path: at('max'), message: `expected max > min (${q.min})`, input: q.max });
      if (!(q.maxStep > 0)) ctx.addIssue({ code: 'custom', path: at('maxStep'), message: 'expected > 0', input: q.maxStep });
      if (q.nominal !== undefined && (q.nominal < q.min || q.nominal > q.max)) ctx.addIssue({ code: 'custom', path: at('nominal'), message: `expected within min..max (${q.min}..${q.max})`, input: q.nominal });
      if (modbus && q.address === undefined) ctx.addIssue({ code: 'custom', path: at('address'), message: 'missing, expected a register address (Modbus transport)', input: undefined });
      if (q.type !== 'float32' && q.address !== undefined) {
        const [lo, hi] = q.type === 'uint16' ? [0, 65535] : [-32768, 32767];
        // A limit the register cannot hold would be clamped silently by the encoding; refuse it here instead.
        for (const k of ['min', 'max'] as const) {
          const raw = Math.round(q[k] / q.scale);
          if (raw < lo || raw > hi) ctx.addIssue({ code: 'custom', path: at(k), message: `expected a value a ${q.type} with scale ${q.scale} can hold (${lo * q.scale}..${hi * q.scale})`, input: q[k] });
        }
      }
    }
    if (!modbus) return;
    for (const k of ['heartbeat', 'sequence', 'ack'] as const) {
      if (!p[k]) ctx.addIssue({ code: 'custom', path: [k], message: `missing, expected {address} (Modbus transport needs ${k === 'heartbeat' ? 'a heartbeat' : 'sequence and ack registers'})`, input: undefined });
    }
    // Every register has one meaning and one writer: overlapping spans would let a move corrupt another value.
    const spans: { key: string; from: number; to: number }[] = [];
    for (const [name, q] of Object.entries(p.parameters)) if (q.address !== undefined) spans.push({ key: `parameters.${name}`, from: q.address, to: q.address + (q.type === 'float32' ? 1 : 0) });
    for (const k of ['heartbeat', 'sequence', 'ack'] as const) if (p[k]) spans.push({ key: k, from: p[k].address, to: p[k].address });
    for (const s of spans) {
      if (s.to > 65535) ctx.addIssue({ code: 'custom', path: s.key.split('.').concat('address'), message: 'expected a float32 to fit two registers below 65536', input: s.from });
    }
    for (let i = 0; i < spans.length; i++) {
      for (let j = i + 1; j < spans.length; j++) {
        const a = spans[i];
        const b = spans[j];
        if (a.from <= b.to && b.from <= a.to) {
          ctx.addIssue({ code: 'custom', path: b.key.split('.').concat('address'), message: `overlaps ${a.key} (registers ${a.from}${a.to > a.from ? '-' + a.to : ''})`, input: b.from });
        }
      }
    }
  });

export type HardwareProfile = z.infer<typeof profileSchema>;
export type ParameterSpec = HardwareProfile['parameters'][string];
export type Transport = HardwareProfile['transport'];
