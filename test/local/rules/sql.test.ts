/** The twin's AWS IoT SQL evaluator, construct by construct, with AWS's documented edge cases. */
import { SqlSyntaxError, UnsupportedSqlError, parseIotSql, type SqlValue } from "../../../local/rules/sql";

const T0 = 1_764_000_000_123;

function run(sql: string, payload: unknown, topic = "devices/SN-1/telemetry"): SqlValue | Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  return parseIotSql(sql).evaluate({ topic, payload: body, timestamp: T0 });
}

describe("SELECT", () => {
  test("GIVEN SELECT * WHEN evaluated THEN the output is the payload", () => {
    expect(run("SELECT * FROM 'devices/+/telemetry'", { a: 1, b: { c: "x" } })).toEqual({ a: 1, b: { c: "x" } });
  });

  test("GIVEN * and another field WHEN evaluated THEN the field is added to the payload's keys", () => {
    expect(run("SELECT *, topic(2) AS thingName FROM 'devices/+/errors'", { code: "E1" }, "devices/SN-1/errors")).toEqual({ code: "E1", thingName: "SN-1" });
  });

  test("GIVEN * and a field named like a payload key WHEN evaluated THEN the later item wins", () => {
    expect(run("SELECT *, topic(2) AS thingName FROM 'devices/+/errors'", { thingName: "forged" }, "devices/SN-1/errors")).toEqual({ thingName: "SN-1" });
  });

  test("GIVEN selected fields and aliases WHEN evaluated THEN only those keys, renamed", () => {
    expect(run("SELECT a, b AS bee FROM 'devices/+/telemetry'", { a: 1, b: 2, c: 3 })).toEqual({ a: 1, bee: 2 });
  });

  test("GIVEN a nested field without an alias WHEN evaluated THEN its key is the last segment", () => {
    expect(run("SELECT metrics.co2_ppm FROM 'devices/+/telemetry'", { metrics: { co2_ppm: 900 } })).toEqual({ co2_ppm: 900 });
  });

  test("GIVEN a field the payload lacks WHEN selected THEN it is Undefined and left out", () => {
    expect(run("SELECT a, metrics.missing AS m, nope.deeper AS d FROM 'devices/+/telemetry'", { a: 1, metrics: {} })).toEqual({ a: 1 });
  });

  test("GIVEN a null field WHEN selected THEN null is kept (Null is a value, Undefined is not)", () => {
    expect(run("SELECT a FROM 'devices/+/telemetry'", { a: null })).toEqual({ a: null });
  });

  test("GIVEN literals WHEN selected THEN strings (with '' escapes), numbers, booleans and NULL come out typed", () => {
    expect(run("SELECT 'it''s' AS s, 42 AS i, 1.5 AS d, true AS t, NULL AS n FROM 'devices/+/telemetry'", {})).toEqual({
      s: "it's",
      i: 42,
      d: 1.5,
      t: true,
      n: null,
    });
  });

  test("GIVEN a payload that is not JSON WHEN SELECT * THEN it passes on as the original bytes", () => {
    const bytes = Buffer.from([0xde, 0xad]);
    expect(run("SELECT * FROM 'devices/+/telemetry'", bytes)).toEqual(bytes);
  });

  test("GIVEN a payload that is not JSON WHEN fields are selected THEN they are Undefined", () => {
    expect(run("SELECT a, topic(2) AS t FROM 'devices/+/telemetry'", Buffer.from("not json"))).toEqual({ t: "SN-1" });
  });
});

describe("functions and arithmetic", () => {
  test("GIVEN topic(n) WHEN evaluated THEN levels count from 1 and topic() is the whole topic", () => {
    expect(run("SELECT topic() AS all, topic(1) AS one, topic(3) AS three FROM 'devices/+/telemetry'", {})).toEqual({
      all: "devices/SN-1/telemetry",
      one: "devices",
      three: "telemetry",
    });
  });

  test("GIVEN topic(n) past the last level WHEN evaluated THEN it is Undefined", () => {
    expect(run("SELECT topic(4) AS four, topic(0) AS zero FROM 'devices/+/telemetry'", {})).toEqual({});
  });

  test("GIVEN timestamp() WHEN evaluated THEN it is the message's arrival time in epoch ms", () => {
    expect(run("SELECT timestamp() AS ts FROM 'devices/+/telemetry'", {})).toEqual({ ts: T0 });
  });

  test("GIVEN Int / Int WHEN evaluated THEN integer division; with a Decimal the result is Decimal", () => {
    expect(run("SELECT 7 / 2 AS i, 7.0 / 2 AS v2int, 7.5 / 2 AS d, 7 % 4 AS m FROM 'devices/+/telemetry'", {})).toEqual({ i: 3, v2int: 3, d: 3.75, m: 3 });
  });

  test("GIVEN floor(timestamp() / 1000) + n WHEN evaluated THEN whole seconds plus n (the store rule's expiresAt)", () => {
    expect(run("SELECT floor(timestamp() / 1000) + 10 AS e FROM 'devices/+/telemetry'", {})).toEqual({ e: Math.floor(T0 / 1000) + 10 });
  });

  test("GIVEN floor of a Decimal and of a numeric string WHEN evaluated THEN the Int below", () => {
    expect(run("SELECT floor(a) AS x, floor(b) AS y, floor(-1.5) AS z FROM 'devices/+/telemetry'", { a: 2.7, b: "3.9" })).toEqual({ x: 2, y: 3, z: -2 });
  });

  test("GIVEN arithmetic on a non-numeric string WHEN evaluated THEN Undefined", () => {
    expect(run("SELECT a + 1 AS x, -a AS y FROM 'devices/+/telemetry'", { a: "abc" })).toEqual({});
  });

  test("GIVEN concat of strings and a cast number WHEN evaluated THEN one string", () => {
    expect(run("SELECT concat('co2 is ', cast(m.c AS String), ' ppm') AS msg FROM 'devices/+/telemetry'", { m: { c: 1800 } })).toEqual({
      msg: "co2 is 1800 ppm",
    });
  });

  test("GIVEN concat with an Undefined argument WHEN evaluated THEN Undefined", () => {
    expect(run("SELECT concat('x', missing) AS msg FROM 'devices/+/telemetry'", {})).toEqual({});
  });

  test("GIVEN cast WHEN evaluated THEN String, Int, Decimal and Boolean conversions as documented", () => {
    expect(
      run(
        "SELECT cast(a AS String) AS s, cast(b AS Int) AS i, cast(c AS Decimal) AS d, cast(true AS Int) AS t, cast(0 AS Boolean) AS f FROM 'devices/+/telemetry'",
        { a: 1.25, b: "7.9", c: "2.5" },
      ),
    ).toEqual({ s: "1.25", i: 7, d: 2.5, t: 1, f: false });
  });

  test("GIVEN cast of an Undefined field WHEN evaluated THEN Undefined", () => {
    expect(run("SELECT cast(missing AS String) AS s FROM 'devices/+/telemetry'", {})).toEqual({});
  });
});

describe("WHERE and FROM", () => {
  const rule = "SELECT topic(2) AS t FROM 'devices/+/telemetry' WHERE metrics.co2_ppm > 1500";

  test("GIVEN a value past the threshold WHEN evaluated THEN the rule matches", () => {
    expect(run(rule, { metrics: { co2_ppm: 1501 } })).toEqual({ t: "SN-1" });
  });

  test("GIVEN a value at the threshold WHEN evaluated THEN no match", () => {
    expect(run(rule, { metrics: { co2_ppm: 1500 } })).toBeUndefined();
  });

  test("GIVEN a numeric string WHEN compared THEN it is converted to a number", () => {
    expect(run(rule, { metrics: { co2_ppm: "1800" } })).toEqual({ t: "SN-1" });
  });

  test.each([[{ metrics: {} }], [{ metrics: { co2_ppm: "high" } }], [{ metrics: { co2_ppm: true } }], [{}]])(
    "fails to match when the compared field is missing or not a number: %j",
    (payload) => {
      expect(run(rule, payload)).toBeUndefined();
    },
  );

  test("GIVEN AND, OR and NOT WHEN evaluated THEN boolean logic with precedence NOT > AND > OR", () => {
    const sql = "SELECT a FROM 'devices/+/telemetry' WHERE a = 1 OR a = 2 AND NOT b = 'x'";
    expect(run(sql, { a: 1, b: "x" })).toEqual({ a: 1 });
    expect(run(sql, { a: 2, b: "x" })).toBeUndefined();
    expect(run(sql, { a: 2, b: "y" })).toEqual({ a: 2 });
  });

  test("GIVEN = and <> on strings WHEN evaluated THEN compared as strings", () => {
    expect(run("SELECT a FROM 'devices/+/telemetry' WHERE a = 'on' AND b <> 'on'", { a: "on", b: "off" })).toEqual({ a: "on" });
  });

  test("GIVEN a WHERE that is Undefined WHEN evaluated THEN the rule does not fire", () => {
    expect(run("SELECT a FROM 'devices/+/telemetry' WHERE missing", { a: 1 })).toBeUndefined();
  });

  test("GIVEN a topic outside the FROM filter WHEN evaluated THEN no match", () => {
    expect(run("SELECT * FROM 'devices/+/telemetry'", { a: 1 }, "devices/SN-1/errors")).toBeUndefined();
    expect(run("SELECT * FROM 'devices/+/telemetry'", { a: 1 }, "devices/SN-1/x/telemetry")).toBeUndefined();
  });

  test("GIVEN # in the FROM filter WHEN evaluated THEN it matches every level below", () => {
    expect(run("SELECT topic(3) AS t FROM 'devices/#'", {}, "devices/SN-1/a/b")).toEqual({ t: "a" });
  });

  test("GIVEN the lifecycle filter WHEN a presence event arrives THEN SELECT * passes it on", () => {
    expect(run("SELECT * FROM '$aws/events/presence/+/+'", { clientId: "SN-1", eventType: "connected" }, "$aws/events/presence/connected/SN-1")).toEqual({
      clientId: "SN-1",
      eventType: "connected",
    });
  });
});

describe("what the twin refuses", () => {
  test.each([
    ["SELECT lower(a) AS x FROM 't'", /function lower\(\)/],
    ["SELECT a FROM 't' WHERE a IN (1, 2)", /IN/],
    ["SELECT a FROM 't' WHERE a LIKE 'x%'", /LIKE/],
    ["SELECT CASE a WHEN 1 THEN 2 END AS x FROM 't'", /CASE/],
    ["SELECT VALUE a FROM 't'", /SELECT VALUE/],
    ["SELECT a[0] AS x FROM 't'", /'\['/],
    ["SELECT a + 1 FROM 't'", /without an alias/],
    ["SELECT cast(a AS Timestamp) AS x FROM 't'", /cast to Timestamp/],
    ["SELECT a FROM 't' ORDER BY a", /ORDER/],
  ])("fails when the SQL uses an unsupported construct: %s", (sql, message) => {
    expect(() => parseIotSql(sql)).toThrow(UnsupportedSqlError);
    expect(() => parseIotSql(sql)).toThrow(message);
  });

  test.each(["SELECT a FROM t", "SELECT FROM 't'", "SELECT a FROM 'devices/#/x'", "SELECT 'open FROM 't'"])("fails when the SQL is malformed: %s", (sql) => {
    expect(() => parseIotSql(sql)).toThrow(SqlSyntaxError);
  });
});
