// Drives the fake Salesforce with jsforce, the official JavaScript client, to
// show that the sandbox speaks the protocol real client libraries expect.
// Needs: SALESFORCE_URL, SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET,
// SALESFORCE_USERNAME, SALESFORCE_JWT_KEY (path), TOOLS_NODE (folder holding
// node_modules); the sandbox must be seeded with 2,500 Contacts.
import { createRequire } from 'node:module';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(path.join(process.env.TOOLS_NODE, 'package.json'));
const jsforce = require('jsforce');

const url = process.env.SALESFORCE_URL;
const clientId = process.env.SALESFORCE_CLIENT_ID;
const clientSecret = process.env.SALESFORCE_CLIENT_SECRET;
const username = process.env.SALESFORCE_USERNAME;
const version = '66.0';

let passed = 0;
let failed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - salesforce: ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - salesforce: ${name}\n  ${err?.stack ?? err}`);
  }
}

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

function jwtAssertion() {
  const key = readFileSync(process.env.SALESFORCE_JWT_KEY, 'utf8');
  const header = b64url(JSON.stringify({ alg: 'RS256' }));
  const claims = b64url(JSON.stringify({ iss: clientId, sub: username, aud: url, exp: Math.floor(Date.now() / 1000) + 180 }));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${claims}`);
  return `${header}.${claims}.${b64url(signer.sign(key))}`;
}

const conn = new jsforce.Connection({ oauth2: { clientId, clientSecret, loginUrl: url }, version });
conn.bulk2.pollInterval = 50;
conn.bulk2.pollTimeout = 20000;

await step('client credentials token', async () => {
  const info = await conn.authorize({ grant_type: 'client_credentials' });
  assert.equal(conn.instanceUrl, url);
  assert.ok(conn.accessToken.startsWith('00D'));
  assert.equal(info.organizationId, '00DRO0000000001AAA');
});

await step('JWT bearer token', async () => {
  const jwtConn = new jsforce.Connection({ oauth2: { clientId, loginUrl: url }, version });
  await jwtConn.authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwtAssertion() });
  const res = await jwtConn.query('SELECT COUNT() FROM Contact');
  assert.equal(res.totalSize, 2500);
});

await step('a bad client secret is refused with the OAuth error shape', async () => {
  const bad = new jsforce.Connection({ oauth2: { clientId, clientSecret: 'wrong', loginUrl: url }, version });
  await assert.rejects(bad.authorize({ grant_type: 'client_credentials' }), (err) => {
    assert.match(`${err.name} ${err.message}`, /invalid_client/);
    return true;
  });
});

await step('query with autoFetch pages past 2,000 records', async () => {
  const records = [];
  await new Promise((resolve, reject) => {
    conn
      .query('SELECT Id, Email, LastName FROM Contact')
      .on('record', (r) => records.push(r))
      .on('end', resolve)
      .on('error', reject)
      .run({ autoFetch: true, maxFetch: 10000 });
  });
  assert.equal(records.length, 2500);
  assert.equal(new Set(records.map((r) => r.Id)).size, 2500);
  assert.ok(records.every((r) => r.Id.length === 18 && r.attributes.type === 'Contact'));
});

await step('query with WHERE, ORDER BY and LIMIT', async () => {
  const res = await conn.query("SELECT Id, Email FROM Contact WHERE Email LIKE 'person1%' AND (NOT Email = null) ORDER BY Email DESC LIMIT 5");
  assert.equal(res.records.length, 5);
  const emails = res.records.map((r) => r.Email);
  assert.deepEqual([...emails].sort().reverse(), emails);
});

let createdId;
await step('create, update and retrieve one record', async () => {
  const created = await conn.sobject('Contact').create({ LastName: 'Conformance', Email: 'conf@example.com' });
  assert.equal(created.success, true);
  createdId = created.id;
  const updated = await conn.sobject('Contact').update({ Id: createdId, Title: 'Tester' });
  assert.equal(updated.success, true);
  const got = await conn.sobject('Contact').retrieve(createdId);
  assert.equal(got.Title, 'Tester');
  assert.equal(got.Full_Name__c, 'Conformance');
});

await step('upsert by External ID creates then updates', async () => {
  const first = await conn.sobject('Contact').upsert({ HubSpot_Id__c: 'hs-conf-1', LastName: 'Upserted' }, 'HubSpot_Id__c');
  assert.equal(first.success, true);
  assert.equal(first.created, true);
  const second = await conn.sobject('Contact').upsert({ HubSpot_Id__c: 'hs-conf-1', LastName: 'Upserted', Title: 'Again' }, 'HubSpot_Id__c');
  assert.equal(second.created, false);
  assert.equal(second.id, first.id);
});

await step('sObject collections create, update and upsert', async () => {
  const many = Array.from({ length: 5 }, (_, i) => ({ LastName: `Batch ${i}` }));
  many.push({ FirstName: 'NoLastName' });
  const created = await conn.sobject('Contact').create(many, { allOrNone: false });
  assert.equal(created.length, 6);
  assert.ok(created.slice(0, 5).every((r) => r.success));
  assert.equal(created[5].success, false);
  assert.equal(created[5].errors[0].statusCode, 'REQUIRED_FIELD_MISSING');
  const updated = await conn.sobject('Contact').update(created.slice(0, 5).map((r) => ({ Id: r.id, Title: 'Batched' })));
  assert.ok(updated.every((r) => r.success));
  const upserted = await conn.sobject('Contact').upsert(
    [{ HubSpot_Id__c: 'hs-conf-2', LastName: 'U2' }, { HubSpot_Id__c: 'hs-conf-1', LastName: 'U1' }],
    'HubSpot_Id__c',
  );
  assert.deepEqual(upserted.map((r) => [r.success, r.created]), [[true, true], [true, false]]);
});

await step('describe shows formula fields', async () => {
  const d = await conn.sobject('Contact').describe();
  const formula = d.fields.find((f) => f.name === 'Full_Name__c');
  assert.equal(formula.calculated, true);
  assert.equal(formula.updateable, false);
});

await step('Bulk API 2.0 query', async () => {
  const stream = await conn.bulk2.query("SELECT Id, Email FROM Contact WHERE Email LIKE 'person2%'");
  const rows = [];
  await new Promise((resolve, reject) => {
    stream.on('record', (r) => rows.push(r));
    stream.on('end', resolve);
    stream.on('error', reject);
    stream.resume?.();
  });
  const expected = (await conn.query("SELECT COUNT() FROM Contact WHERE Email LIKE 'person2%'")).totalSize;
  assert.ok(expected > 0);
  assert.equal(rows.length, expected);
  assert.ok(rows.every((r) => r.Id.length === 18 && r.Email.startsWith('person2')));
});

await step('getUpdated lists the records changed in the window', async () => {
  const start = new Date(Date.now() - 5 * 60 * 1000);
  const end = new Date(Date.now() + 5 * 60 * 1000);
  const res = await conn.sobject('Contact').updated(start, end);
  assert.ok(res.ids.includes(createdId));
  assert.ok(typeof res.latestDateCovered === 'string');
});

await step('limits and the API usage header', async () => {
  const limits = await conn.limits();
  assert.ok(limits.DailyApiRequests.Max > 0);
  assert.ok(limits.DailyApiRequests.Remaining < limits.DailyApiRequests.Max);
});

console.log(`salesforce: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
