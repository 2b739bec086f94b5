import { ConfigError } from '../lib/errors';
import { quote } from '../lib/values';
import { isValidTimeZone } from '../sangam/dates';
import { CALL_LOG_SOURCE_FORMATS, CallLogSourceFormat, POPUP_SOURCE_FORMATS, PopupSourceFormat } from './index';

/**
 * The node properties that choose and tune a source (read once per deploy): which format
 * msg.payload is in, the PBX's clock, where recordings are served from, Twilio's validation.
 */

export interface SourceProperties {
  inputFormat?: unknown;
  /** IANA zone of the PBX's clock (Asterisk CDR times, FreeSWITCH stamps, Exotel); default per format. */
  pbxTimezone?: unknown;
  /** Base URL that a PBX's recording file names are appended to. */
  recordingUrlPrefix?: unknown;
  /** The URL set in Twilio's console, for request validation. */
  webhookUrl?: unknown;
}

export interface SourceNodeSettings<F extends string> {
  /** Undefined: the node's own format (record, event): no mapping. */
  format: F | undefined;
  pbxTimeZone?: string;
  recordingUrlPrefix?: string;
  webhookUrl?: string;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

function read<F extends string>(properties: SourceProperties, own: string, formats: readonly F[]): SourceNodeSettings<F> {
  const format = text(properties.inputFormat) || own;
  if (format !== own && !(formats as readonly string[]).includes(format)) {
    throw new ConfigError(`inputFormat ${quote(format)} is not one of ${[own, ...formats].join(', ')}`);
  }
  const settings: SourceNodeSettings<F> = { format: format === own ? undefined : (format as F) };
  const zone = text(properties.pbxTimezone);
  if (zone !== '') {
    if (!isValidTimeZone(zone)) throw new ConfigError(`pbxTimezone ${quote(zone)} is not an IANA time zone (e.g. Asia/Kolkata)`);
    settings.pbxTimeZone = zone;
  }
  const prefix = text(properties.recordingUrlPrefix);
  if (prefix !== '') {
    if (!/^https?:\/\/[^\s]+$/i.test(prefix)) throw new ConfigError(`recordingUrlPrefix ${quote(prefix)} is not an http(s) URL`);
    settings.recordingUrlPrefix = prefix;
  }
  const webhookUrl = text(properties.webhookUrl);
  if (webhookUrl !== '') {
    if (!/^https?:\/\/[^\s]+$/i.test(webhookUrl)) throw new ConfigError(`webhookUrl ${quote(webhookUrl)} is not an http(s) URL`);
    settings.webhookUrl = webhookUrl;
  }
  return settings;
}

export function readCallLogSource(properties: SourceProperties): SourceNodeSettings<CallLogSourceFormat> {
  return read(properties, 'record', CALL_LOG_SOURCE_FORMATS);
}

export function readPopupSource(properties: SourceProperties): SourceNodeSettings<PopupSourceFormat> {
  return read(properties, 'event', POPUP_SOURCE_FORMATS);
}
