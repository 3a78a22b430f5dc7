// Read an iCalendar file with ical.js (the parser of Thunderbird and Nextcloud) and print
// what a calendar app would see, as JSON, for the Python feed tests to compare with the
// database:
//
//   node tests/js/parse_ics.mjs feed.ics      (or the .ics on stdin)
//
// Times are printed as UTC ISO strings computed with toUnixTime(), which does not depend on
// the time zone of the machine running node; "zone" says how the file stated the time
// ("UTC", a TZID, or "floating"), so the test can insist on UTC. A file ical.js cannot parse
// ends the script with exit status 1 and the error on stderr.

import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function utc(time) {
  return new Date(time.toUnixTime() * 1000).toISOString();
}

function zone(time) {
  if (time.zone === ICAL.Timezone.utcTimezone) return "UTC";
  if (time.zone === ICAL.Timezone.localTimezone || !time.zone) return "floating";
  return time.zone.tzid;
}

function text(component, name) {
  const value = component.getFirstPropertyValue(name);
  return value === null || value === undefined ? null : String(value);
}

function main() {
  const source = readFileSync(process.argv[2] ?? 0, "utf8");
  const calendar = new ICAL.Component(ICAL.parse(source));
  const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
    const event = new ICAL.Event(vevent);
    return {
      uid: event.uid,
      start: utc(event.startDate),
      end: utc(event.endDate),
      start_zone: zone(event.startDate),
      end_zone: zone(event.endDate),
      duration_seconds: event.duration.toSeconds(),
      sequence: event.sequence,
      status: text(vevent, "status"),
      summary: event.summary,
      description: event.description,
      location: event.location,
      url: text(vevent, "url"),
      last_modified: vevent.getFirstPropertyValue("last-modified")
        ? utc(vevent.getFirstPropertyValue("last-modified"))
        : null,
      dtstamp: vevent.getFirstPropertyValue("dtstamp")
        ? utc(vevent.getFirstPropertyValue("dtstamp"))
        : null,
    };
  });
  const result = {
    name: text(calendar, "name"),
    x_wr_calname: text(calendar, "x-wr-calname"),
    method: text(calendar, "method"),
    version: text(calendar, "version"),
    events,
  };
  process.stdout.write(JSON.stringify(result, null, 1) + "\n");
}

try {
  main();
} catch (error) {
  process.stderr.write(`ical.js could not read the calendar: ${error?.stack ?? error}\n`);
  process.exit(1);
}
