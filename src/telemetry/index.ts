export { CommandRejected, runCommandPayload, type CommandContext, type CommandHandler, type CommandOutcome, type CommandReply } from './commands/index.js';
export { clientIdFor, outboxPathFor, telemetrySchema, type TelemetryConfig } from './config.js';
export { TelemetryConfigError } from './connect-options.js';
export { Outbox, type AppendResult, type OutboxStats } from './outbox.js';
export { TelemetryPublisher, type PublisherOptions } from './publisher.js';
export { gapAlarm, type AlarmRecord, type GapRecord } from './records.js';
export type { ControlState, ModelState, RecipeState, RunState, StateValues } from './state.js';
export { StatsCollector, type StatsPayload, type TelemetryStatus } from './stats.js';
export { CHANNELS, COMMAND_NAMES, STATE_NAMES, topicsFor, type Channel, type StateName, type Topics } from './topics.js';
