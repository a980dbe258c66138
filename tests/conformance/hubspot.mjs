// Drives the fake HubSpot with @hubspot/api-client, the official JavaScript
// client, to show that the sandbox speaks the protocol it expects: batch
// upsert, batch read by email, search with paging, associations v4, the
// duplicate-email 409, and webhook signatures checked with the library's
// own Signature.isValid.
// Needs: HUBSPOT_URL, HUBSPOT_TOKEN, HUBSPOT_CLIENT_SECRET, TOOLS_NODE
// (folder holding node_modules). Exits non-zero on any failure.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(path.join(process.env.TOOLS_NODE, 'package.json'));
const { Client, Signature } = require('@hubspot/api-client');

const url = process.env.HUBSPOT_URL;
const token = process.env.HUBSPOT_TOKEN;
const clientSecret = process.env.HUBSPOT_CLIENT_SECRET;
assert.ok(url && token && clientSecret, 'HUBSPOT_URL, HUBSPOT_TOKEN and HUBSPOT_CLIENT_SECRET must be set');

const hubspot = new Client({ accessToken: token, basePath: url });
const run = Date.now().toString(36);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0;
let failed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - hubspot: ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - hubspot: ${name}\n  ${err?.stack ?? err}`);
  }
}

async function control(method, pathname, body) {
  const res = await fetch(`${url}/__sandbox/hubspot/${pathname}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `control ${method} ${pathname}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

const emails = [1, 2, 3].map((i) => `conf-${run}-${i}@example.com`);

await step('batch upsert by email creates, then updates', async () => {
  const inputs = emails.map((email) => ({ id: email, idProperty: 'email', properties: { firstname: 'Conf' } }));
  const first = await hubspot.crm.contacts.batchApi.upsert({ inputs });
  assert.equal(first.status, 'COMPLETE');
  assert.equal(first.results.length, 3);
  assert.ok(first.results.every((r) => r._new === true || r['new'] === true), 'new on the first upsert');
  const again = await hubspot.crm.contacts.batchApi.upsert({
    inputs: emails.map((email) => ({ id: email, idProperty: 'email', properties: { lastname: 'Again' } })),
  });
  assert.ok(again.results.every((r) => r._new === false || r['new'] === false), 'not new on the second upsert');
  assert.deepEqual(new Set(again.results.map((r) => r.id)), new Set(first.results.map((r) => r.id)));
});

await step('batch read by email returns the records with their properties', async () => {
  const res = await hubspot.crm.contacts.batchApi.read({
    idProperty: 'email',
    inputs: [...emails, `missing-${run}@example.com`].map((id) => ({ id })),
    properties: ['email', 'firstname', 'lastname'],
    propertiesWithHistory: [],
  });
  assert.equal(res.results.length, 3);
  for (const r of res.results) {
    assert.ok(emails.includes(r.properties.email));
    assert.equal(r.properties.lastname, 'Again');
    assert.ok(r.createdAt instanceof Date && !Number.isNaN(r.createdAt.getTime()));
  }
});

await step('search pages with after and reports the total', async () => {
  await control('POST', 'seed', { contacts: 450, seed: 7 });
  const request = {
    filterGroups: [{ filters: [{ propertyName: 'email', operator: 'CONTAINS_TOKEN', value: 'person*' }] }],
    sorts: [{ propertyName: 'createdate', direction: 'ASCENDING' }],
    properties: ['email'],
    limit: 200,
  };
  const seen = new Set();
  let after;
  let total;
  let pages = 0;
  do {
    const page = await hubspot.crm.contacts.searchApi.doSearch({ ...request, after });
    total = page.total;
    page.results.forEach((r) => seen.add(r.id));
    after = page.paging?.next?.after;
    pages += 1;
    await sleep(250);
  } while (after);
  assert.ok(total >= 450, `total ${total}`);
  assert.equal(seen.size, total);
  assert.equal(pages, Math.ceil(total / 200));
});

await step('associations v4 are created and read back', async () => {
  const contact = await hubspot.crm.contacts.basicApi.create({ properties: { email: `assoc-${run}@example.com` }, associations: [] });
  const company = await hubspot.crm.companies.basicApi.create({ properties: { name: `Conf ${run}`, domain: `conf-${run}.example.com` }, associations: [] });
  const created = await hubspot.crm.associations.v4.batchApi.create('contacts', 'companies', {
    inputs: [{ _from: { id: contact.id }, to: { id: company.id }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 279 }] }],
  });
  assert.equal(created.status, 'COMPLETE');
  const read = await hubspot.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: contact.id }] });
  assert.equal(read.results.length, 1);
  assert.equal(String(read.results[0].to[0].toObjectId), company.id);
  assert.ok(read.results[0].to[0].associationTypes.some((t) => t.typeId === 279));
});

await step('a duplicate email is a 409 CONFLICT naming the existing id', async () => {
  const existing = await hubspot.crm.contacts.basicApi.getById(emails[0], ['email'], undefined, undefined, false, 'email');
  try {
    await hubspot.crm.contacts.basicApi.create({ properties: { email: emails[0] }, associations: [] });
    assert.fail('the create should have failed');
  } catch (err) {
    assert.equal(err.code, 409, String(err));
    assert.equal(err.body.category, 'CONFLICT');
    assert.equal(err.body.status, 'error');
    assert.equal(err.body.message, `Contact already exists. Existing ID: ${existing.id}`);
    assert.ok(err.body.correlationId);
  }
});

await step('webhook deliveries pass Signature.isValid for v3 and v1', async () => {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${server.address().port}/hubspot/webhook`;
  try {
    await control('PUT', 'webhooks/target', { url: target });
    await control('POST', 'users/contacts', { properties: { email: `hook-${run}@example.com` } });
    for (let i = 0; i < 100 && received.length === 0; i += 1) await sleep(50);
    assert.ok(received.length > 0, 'a delivery arrived');
    const { headers, body } = received[0];
    const events = JSON.parse(body);
    assert.ok(Array.isArray(events) && events.some((e) => e.subscriptionType === 'contact.creation' && e.changeSource === 'CRM_UI'));
    const v3 = {
      signatureVersion: 'v3', signature: headers['x-hubspot-signature-v3'], clientSecret, requestBody: body,
      method: 'POST', url: target, timestamp: Number(headers['x-hubspot-request-timestamp']),
    };
    assert.equal(Signature.isValid(v3), true, 'v3 signature');
    assert.equal(Signature.isValid({ ...v3, requestBody: `${body} ` }), false, 'a changed body fails v3');
    assert.equal(headers['x-hubspot-signature-version'], 'v1');
    assert.equal(
      Signature.isValid({ signatureVersion: 'v1', signature: headers['x-hubspot-signature'], clientSecret, requestBody: body }),
      true,
      'v1 signature',
    );
  } finally {
    await control('PUT', 'webhooks/target', { url: null });
    server.close();
  }
});

console.log(`hubspot conformance: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
