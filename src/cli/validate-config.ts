import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';

export function validateConfigCommand(): Command {
  return new Command('validate-config')
    .description('check a config file against the schema; exit 0 when valid, 1 with every problem listed')
    .argument('<file>', 'YAML config file')
    .action(async (file: string) => {
      try {
        await loadConfig(file);
        process.stdout.write(`${file}: valid\n`);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(e.message + '\n');
        process.exitCode = 1;
      }
    });
}
