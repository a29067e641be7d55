/** What every actuator transport (Modbus TCP, Modbus RTU, later MQTT) offers the control loop. */

export type ActuatorState = 'connecting' | 'healthy' | 'faulted' | 'stopped';

/** A move to apply: one parameter to one absolute value, with the record that explains it. */
export interface MoveRequest {
  parameter: string;
  to: number;
  /** free text carried into the log (the controller's MoveRecord.reason) */
  reason?: string;
}

export type ApplyResult = { ok: true; seq: number; value: number } | { ok: false; reason: string };

/** Raised when an arm faults or refuses a move; inspection goes on, the arm's loops freeze. */
export interface AlarmEvent {
  arm: string;
  at: number;
  kind: 'link' | 'exception' | 'readback' | 'no-ack' | 'refused';
  reason: string;
  /** a latched fault needs reset() (an operator's acknowledgement); a link fault clears itself on reconnect */
  latched: boolean;
}

export interface Actuator {
  readonly arm: string;
  readonly state: ActuatorState;
  /** the last values read from the arm, engineering units */
  values(): ReadonlyMap<string, number>;
  start(): Promise<void>;
  apply(move: MoveRequest): Promise<ApplyResult>;
  /** an operator acknowledges a latched fault: probe the arm and resume if it answers correctly */
  reset(): void;
  stop(): Promise<void>;
  on(event: 'alarm', listener: (a: AlarmEvent) => void): this;
  on(event: 'recovered', listener: (values: ReadonlyMap<string, number>) => void): this;
  on(event: 'state', listener: (s: ActuatorState) => void): this;
}
