#!/usr/bin/env node
import { Command } from 'commander';
import { calibrateCommand } from './calibrate.js';
import { datasetCommand } from './dataset.js';
import { demoCommand } from './demo.js';
import { modelCommand } from './model.js';
import { recordCommand } from './record.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { simulateCommand } from './simulate.js';
import { specsCommand } from './specs.js';
import { validateConfigCommand } from './validate-config.js';

const program = new Command('wafer-inspect')
  .description('Multimodal wafer inspection appliance: capture, fusion, text-defined defect specs, run-to-run control')
  .showHelpAfterError();

program.addCommand(validateConfigCommand());
program.addCommand(recordCommand());
program.addCommand(calibrateCommand());
program.addCommand(datasetCommand());
program.addCommand(demoCommand());
program.addCommand(modelCommand());
program.addCommand(specsCommand());
program.addCommand(replayCommand());
program.addCommand(runCommand());
program.addCommand(simulateCommand());

program.parseAsync(process.argv).catch((e: Error) => {
  process.stderr.write(`wafer-inspect: ${e.message}\n`);
  process.exit(1);
});
