// node-postgres (the npm `pg` package, and `pg-cursor`) through dbmd's front door.
// Usage: node node_pg.js SOCKET_DIR [with-postgresql]
// Runs its checks against development (SQLite) and, with the second argument,
// production (PostgreSQL); prints one line per check and a count last,
// and exits 1 when a check failed.

'use strict';

const os = require('os');
const { Client, Query } = require('pg');
const Cursor = require('pg-cursor');

const host = process.argv[2];
const user = os.userInfo().username;
const withPg = process.argv[3] === 'with-postgresql';
let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
}

async function expectError(name, client, query, values, code) {
  try {
    await client.query(query, values);
    check(name, false, 'no error');
    return null;
  } catch (e) {
    check(`${name} (SQLSTATE ${code})`, e.code === code, { code: e.code, message: e.message });
    return e;
  }
}

async function connect(database, extra) {
  const c = new Client({ host, port: 5432, user, database, application_name: 'fd-node', ...extra });
  await c.connect();
  return c;
}

async function postgresql() {
  const c = await connect('production');
  const table = `fd_node_${process.pid}`;
  try {
    const r = await c.query(
      'SELECT $1::int + 1 AS n, $2::text AS t, $3::bytea AS b, $4::bool AS f, ' +
      '$5::timestamptz AS ts, $6::jsonb AS j, $7::numeric AS d, $8::text AS nul',
      [41, 'héllo ☃ 𝄞', Buffer.from([0, 1, 0, 255]), true,
        new Date('2024-01-02T03:04:05.678Z'), { a: [1, 'x'] }, '12.345', null]);
    const row = r.rows[0];
    check('parameters of several types', row.n === 42 && row.t === 'héllo ☃ 𝄞' &&
      Buffer.compare(row.b, Buffer.from([0, 1, 0, 255])) === 0 && row.f === true &&
      row.ts.getTime() === Date.parse('2024-01-02T03:04:05.678Z') &&
      JSON.stringify(row.j) === '{"a":[1,"x"]}' && row.d === '12.345' && row.nul === null,
    row);
    check('field types', r.fields.map((f) => f.dataTypeID).join(',') ===
      '23,25,17,16,1184,3802,1700,25', r.fields.map((f) => f.dataTypeID));

    await c.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    await c.query('BEGIN');
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'one']);
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [2, 'two']);
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [3, 'three']);
    await c.query('COMMIT');
    let n = await c.query(`SELECT count(*)::int AS n FROM ${table}`);
    check('transaction: rollback, then commit', n.rows[0].n === 2, n.rows);

    const e = await expectError('unique violation', c, `INSERT INTO ${table} VALUES ($1, $2)`,
      [2, 'again'], '23505');
    check('error fields', e && e.constraint === `${table}_pkey` && e.table === table &&
      e.detail === 'Key (id)=(2) already exists.' && e.severity === 'ERROR',
    e && { constraint: e.constraint, table: e.table, detail: e.detail });
    await expectError('division by zero', c, 'SELECT $1::int / 0', [1], '22012');
    await expectError('undefined table', c, 'SELECT * FROM no_such_table_here', [], '42P01');
    const se = await expectError('syntax error', c, 'SELECT 1 FRM x', [], '42601');
    check('syntax error position', se && se.position === '14', se && se.position);

    await c.query('BEGIN');
    await expectError('error in a transaction', c, 'SELECT 1/0', [], '22012');
    await expectError('aborted transaction', c, 'SELECT 1', [], '25P02');
    await c.query('ROLLBACK');

    let ok = true;
    for (let i = 0; i < 10; i++) {
      if (i === 5) await c.query('BEGIN');
      const p = await c.query({ name: 'fd_double', text: 'SELECT $1::int * 2 AS v', values: [i] });
      ok = ok && p.rows[0].v === 2 * i;
    }
    await c.query('COMMIT');
    check('named prepared statement, in and out of a transaction', ok);

    const a = await c.query({ text: 'SELECT 1 AS x, $1::text AS y', values: ['z'], rowMode: 'array' });
    check('rows as arrays', JSON.stringify(a.rows) === '[[1,"z"]]', a.rows);

    const multi = await c.query('SELECT 1 AS a; SELECT 2 AS b');
    check('several statements in one query', Array.isArray(multi) && multi.length === 2 &&
      multi[1].rows[0].b === 2, multi.length);

    // A cursor: Execute with a row limit, the rest held until asked for.
    await c.query('BEGIN');
    const cur = c.query(new Cursor('SELECT g FROM generate_series(1, $1::int) g', [25]));
    const first = await cur.read(10);
    const second = await cur.read(10);
    const third = await cur.read(10);
    const fourth = await cur.read(10);
    await cur.close();
    await c.query('COMMIT');
    check('cursor reads in portions', first.length === 10 && second[0].g === 11 &&
      third.length === 5 && third[4].g === 25 && fourth.length === 0,
    [first.length, second.length, third.length, fourth.length]);

    const sleep = new Query('SELECT pg_sleep(5) -- fd-node-sleep');
    const cancelled = new Promise((resolve, reject) => {
      sleep.on('end', resolve);
      sleep.on('error', reject);
    });
    c.query(sleep);
    // The cancel goes once the server runs the statement, as another connection sees.
    const watcher = await connect('production');
    const deadline = Date.now() + 10000;
    let running = false;
    while (!running && Date.now() < deadline) {
      const w = await watcher.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE " +
        "state = 'active' AND pid <> pg_backend_pid() AND strpos(query, 'fd-node-sleep') > 0");
      running = w.rows[0].n > 0;
      if (!running) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await watcher.end();
    check('statement seen running', running);
    // node-postgres cancels from a second connection with the BackendKeyData.
    const cancelAt = Date.now();
    new Client({ host, port: 5432, user, database: 'production' }).cancel(c, sleep);
    try {
      await cancelled;
      check('cancel', false, 'not cancelled');
    } catch (err) {
      check('cancel (SQLSTATE 57014)', err.code === '57014' && Date.now() - cancelAt < 2000,
        { code: err.code, ms: Date.now() - cancelAt });
    }
    n = await c.query('SELECT 1 AS one');
    check('usable after cancel', n.rows[0].one === 1);

    await expectError('COPY refused', c, `COPY ${table} TO STDOUT`, [], '0A000');
    await expectError('LISTEN refused', c, 'LISTEN fd_channel', [], '0A000');
    n = await c.query(`SELECT count(*)::int AS n FROM ${table}`);
    check('usable after refusals', n.rows[0].n === 2);
    await c.query(`DROP TABLE ${table}`);
  } finally {
    await c.end();
  }

  try {
    const bad = await connect('no_such_env');
    await bad.end();
    check('unknown environment refused', false, 'connected');
  } catch (e) {
    check('unknown environment refused (SQLSTATE 3D000)', e.code === '3D000', e.code);
  }
}

async function sqlite() {
  const c = await connect('development');
  const table = `fd_node_${process.pid}`;
  try {
    await c.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text, score real, data blob)`);
    await c.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4)`,
      [1, 'ada ☃', 1.5, Buffer.from([0, 255])]);
    await c.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4)`, [2, null, null, null]);
    const r = await c.query(`SELECT id, name, score, data FROM ${table} WHERE id = $1`, [1]);
    const row = r.rows[0];
    // INTEGER is int8, which node-postgres gives as a string.
    check('sqlite: parameters', row && row.id === '1' && row.name === 'ada ☃' &&
      row.score === 1.5 && Buffer.compare(row.data, Buffer.from([0, 255])) === 0, row);
    await c.query('BEGIN');
    await c.query(`DELETE FROM ${table}`);
    await c.query('ROLLBACK');
    const n = await c.query(`SELECT count(*) AS n FROM ${table}`);
    check('sqlite: transaction', Number(n.rows[0].n) === 2, n.rows);
    await expectError('sqlite: unique violation', c, `INSERT INTO ${table} (id) VALUES ($1)`,
      [1], '23505');
    await expectError('sqlite: undefined table', c, 'SELECT * FROM no_such_table_here', [],
      '42P01');
    await c.query(`DROP TABLE ${table}`);
  } finally {
    await c.end();
  }
}

(async () => {
  try {
    await sqlite();
    if (withPg) await postgresql();
  } catch (e) {
    check('no unexpected error', false, { message: e.message, code: e.code, stack: e.stack });
  }
  console.log(`node_pg.js: ${passed} checks ok, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
