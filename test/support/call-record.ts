/**
 * A plain inbound call record (the payload sangam-call-log logs as it is): the tests of the
 * durable outbox, quiet stop and secrets send copies of it, each with its own call_ref, and the
 * notify sender's test logs it to show a call log waking a pop-up's retry.
 */
export const RECORD = {
  direction: 'Inbound',
  enjay_lat_source_number: '9876509876',
  enjay_lat_destination_number: '2001',
  date_start: '2024-05-01 10:00:00',
  duration: 42,
};
