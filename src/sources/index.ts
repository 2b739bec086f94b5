import type { AgentDirectory } from '../sangam/agent-directory';
import type * as AsteriskSource from './asterisk';
import type { CallLogResult, PopupResult } from './common';
import type * as ExotelSource from './exotel';
import type * as FreeswitchSource from './freeswitch';
import type * as TwilioSource from './twilio';

/*
 * Each format's module is loaded when a node first maps a msg of that format, not with the node
 * files: a Node-RED that logs ready-made records (or does not use the nodes at all) never loads them.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const asterisk = (): typeof AsteriskSource => require('./asterisk') as typeof AsteriskSource;
const exotel = (): typeof ExotelSource => require('./exotel') as typeof ExotelSource;
const freeswitch = (): typeof FreeswitchSource => require('./freeswitch') as typeof FreeswitchSource;
const twilio = (): typeof TwilioSource => require('./twilio') as typeof TwilioSource;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * One entry point per node for the wiring: the `inputFormat` values of node-contract.md mapped
 * to their source module, with the settings each one needs read once per node.
 */

export const CALL_LOG_SOURCE_FORMATS = ['exotel', 'twilio', 'asterisk', 'freeswitch'] as const;
export type CallLogSourceFormat = (typeof CALL_LOG_SOURCE_FORMATS)[number];
export const POPUP_SOURCE_FORMATS = ['exotel', 'twilio', 'asterisk'] as const;
export type PopupSourceFormat = (typeof POPUP_SOURCE_FORMATS)[number];

export interface SourceSettings {
  /** The config node's zone: dates are written in it. */
  timeZone: string;
  agents?: AgentDirectory;
  /** Asterisk's (and a stamps-only FreeSWITCH CDR's) server zone; default: timeZone. */
  pbxTimeZone?: string;
  /** Exotel account zone; default Asia/Kolkata. */
  exotelTimeZone?: string;
  /** Base URL for recordings that a PBX names by file (Asterisk recordingfile, FreeSWITCH record_name). */
  recordingUrlPrefix?: string;
}

export interface PopupSettings extends SourceSettings {
  eventCode: string;
  now?: () => number;
}

/**
 * How long CallMerger holds a call of each format for its other legs: Asterisk and FreeSWITCH
 * write a CDR per leg, Twilio a callback per <Dial> child, within moments; Exotel sends one
 * terminal callback per call, so only its repeats need catching.
 */
export const HOLD_MS_BY_FORMAT: Readonly<Record<CallLogSourceFormat, number>> = {
  exotel: 0,
  twilio: 3000,
  asterisk: 3000,
  freeswitch: 3000,
};

export function callLogMapper(format: CallLogSourceFormat, settings: SourceSettings): (body: unknown) => CallLogResult {
  const { timeZone, agents, recordingUrlPrefix } = settings;
  switch (format) {
    case 'exotel': {
      const { exotelCallLog } = exotel();
      return (body) => exotelCallLog(body, { timeZone, agents, exotelTimeZone: settings.exotelTimeZone });
    }
    case 'twilio': {
      const { twilioCallLog } = twilio();
      return (body) => twilioCallLog(body, { timeZone, agents });
    }
    case 'asterisk': {
      const { asteriskCallLog } = asterisk();
      const options = { timeZone, agents, recordingUrlPrefix, pbxTimeZone: settings.pbxTimeZone ?? timeZone };
      return (body) => asteriskCallLog(body, options);
    }
    case 'freeswitch': {
      const { freeswitchCallLog } = freeswitch();
      const options = { timeZone, agents, recordingUrlPrefix, pbxTimeZone: settings.pbxTimeZone };
      return (body) => freeswitchCallLog(body, options);
    }
  }
}

export function popupMapper(format: PopupSourceFormat, settings: PopupSettings): (body: unknown) => PopupResult {
  switch (format) {
    case 'exotel': {
      const { exotelPopup } = exotel();
      return (body) => exotelPopup(body, settings);
    }
    case 'twilio': {
      const { twilioPopup } = twilio();
      return (body) => twilioPopup(body, settings);
    }
    case 'asterisk': {
      const { asteriskPopup } = asterisk();
      return (body) => asteriskPopup(body, settings);
    }
  }
}

export type { CallLogResult, MappedCall, PopupEvent, PopupResult, SkippedEvent, SourceRecord } from './common';
export { CallMerger } from './call-merger';
export type { MergedCall, OfferResult } from './call-merger';
