/**
 * MQTT topic-filter matching as AWS IoT Core applies it (MQTT 3.1.1 4.7, MQTT 5 4.7): `+` is one level,
 * `#` the rest (the parent level included), and a filter starting with a wildcard does not match a
 * topic starting with `$` (AWS's reserved `$aws/...` topics). The one matcher of the policy gate, the
 * twin's broker front end and the cost model.
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
