// The commercetools API emulator the tests and benchmarks start, on loopback.
//
// @labdigital/commercetools-mock, wrapped so that it pages like the real API:
// `sort` is honoured (its HTTP layer drops it), `offset` above 10,000 and `limit`
// above 500 are refused with 400 (so a client that pages by offset fails here as it
// would in production). Control endpoints under /_ctmock/ seed customers in bulk
// through the emulator's own JS API and inject failures:
//
//   POST /_ctmock/seed  {"projectKey": "p", "count": 25000, "start": 0,
//                        "lastModifiedAt": "2026-01-01T00:00:00.000Z"}  -> {"added": n}
//   POST /_ctmock/fail  {"status": 503, "times": 2, "retryAfter": 0}     (API routes only;
//                       "clear": true drops the failures still queued;
//                       "after": n lets n calls through first)
//   POST /_ctmock/subscription-status {"projectKey": "p", "key": "ctsync", "status": "..."}
//   GET  /_ctmock/stats -> {"queries": n, "gets": n, "tokens": n}
//
// Usage: node tests/ctmock/server.mjs [port]   (0 = any); prints "listening <url>".
import { AsyncLocalStorage } from "node:async_hooks";
import { CommercetoolsMock, InMemoryStorage } from "@labdigital/commercetools-mock";

const MAX_OFFSET = 10000;
const MAX_LIMIT = 500;
const requestContext = new AsyncLocalStorage();

// One term of an id-range page: `id > "<last>"` (the cursor), `id >= "<from>"`,
// `id < "<below>"` (a range of ids read beside others), ANDed together.
const ID_TERM = /^id\s*(>=|<=|>|<)\s*"([^"\\]*)"$/;

class RealisticStorage extends InMemoryStorage {
	// Sorted ids per project and type: an id-cursor page (`sort=id asc`, at most
	// `where=id > "<last>"`) costs a binary search and one read per resource, as on
	// the real API, instead of the emulator's clone, filter and sort of every
	// resource per page (which made a 100,000-customer scan quadratic).
	#ids = new Map();

	#sorted(projectKey, typeId) {
		const key = `${projectKey}\0${typeId}`;
		let entry = this.#ids.get(key);
		if (!entry) {
			entry = { ids: [], known: new Set(), dirty: false };
			this.#ids.set(key, entry);
		}
		if (entry.dirty) {
			entry.ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
			entry.dirty = false;
		}
		return entry;
	}

	async add(projectKey, typeId, obj, params) {
		const result = await super.add(projectKey, typeId, obj, params);
		const entry = this.#ids.get(`${projectKey}\0${typeId}`) ?? this.#sorted(projectKey, typeId);
		if (!entry.known.has(obj.id)) {
			const last = entry.ids[entry.ids.length - 1];
			entry.known.add(obj.id);
			entry.ids.push(obj.id);
			if (last !== undefined && obj.id < last) entry.dirty = true; // sorted when read
		}
		return result;
	}

	async delete(projectKey, typeId, id, params) {
		const result = await super.delete(projectKey, typeId, id, params);
		const entry = this.#sorted(projectKey, typeId);
		if (result && entry.known.delete(id)) entry.ids.splice(firstAfter(entry.ids, id, true), 1);
		return result;
	}

	async clear() {
		this.#ids.clear();
		return super.clear();
	}

	async query(projectKey, typeId, params) {
		// The service layer does not pass `sort` down; take it from the request.
		const ctx = requestContext.getStore();
		const sort = params.sort ?? ctx?.sort;
		const range = idRange(params, sort);
		if (range !== undefined) return this.#page(projectKey, typeId, range, params.limit || 20);
		return super.query(projectKey, typeId, sort === undefined ? params : { ...params, sort });
	}

	async #page(projectKey, typeId, range, limit) {
		const { ids } = this.#sorted(projectKey, typeId);
		let start = 0;
		let end = ids.length;
		for (const [op, value] of range) {
			if (op === ">") start = Math.max(start, firstAfter(ids, value, false));
			else if (op === ">=") start = Math.max(start, firstAfter(ids, value, true));
			else if (op === "<") end = Math.min(end, firstAfter(ids, value, true));
			else end = Math.min(end, firstAfter(ids, value, false)); // <=
		}
		const page = ids.slice(start, Math.max(start, Math.min(start + limit, end)));
		const results = await Promise.all(page.map((id) => this.get(projectKey, typeId, id)));
		const total = Math.max(0, end - start);
		return { count: results.length, total, offset: 0, limit, results };
	}
}

// The first index whose id is > value (or >= value with `inclusive`).
function firstAfter(ids, value, inclusive) {
	let low = 0;
	let high = ids.length;
	while (low < high) {
		const mid = (low + high) >> 1;
		if (ids[mid] < value || (!inclusive && ids[mid] === value)) low = mid + 1;
		else high = mid;
	}
	return low;
}

// undefined: not an id-range page (the emulator's own query answers it); else the
// [op, value] terms of its range, none for the first page of a full scan.
function idRange(params, sort) {
	const sorts = Array.isArray(sort) ? sort : [sort];
	if (sorts.length !== 1 || String(sorts[0]).trim() !== "id asc") return undefined;
	if (params.expand !== undefined || params.offset) return undefined;
	if (Object.keys(params).some((k) => k.startsWith("var."))) return undefined;
	const where = params.where === undefined ? [] : [params.where].flat();
	if (where.length === 0) return [];
	if (where.length > 1) return undefined;
	const terms = [];
	for (const part of String(where[0]).split(/\s+and\s+/i)) {
		const match = ID_TERM.exec(part.trim().replace(/^\((.*)\)$/, "$1").trim());
		if (!match) return undefined;
		terms.push([match[1], match[2]]);
	}
	return terms;
}

const failures = [];
const storage = new RealisticStorage();
const stats = { queries: 0, gets: 0, tokens: 0 };
const ctMock = new CommercetoolsMock({
	enableAuthentication: true,
	validateCredentials: false,
	silent: true,
	storage,
});
const app = ctMock.app;

function invalid(reply, message) {
	return reply.code(400).send({
		statusCode: 400,
		message,
		errors: [{ code: "InvalidInput", message }],
	});
}

app.addHook("onRequest", (request, reply, done) => {
	const path = request.url.split("?")[0];
	if (path.startsWith("/_ctmock/")) return done();
	if (path.startsWith("/oauth/")) {
		stats.tokens += 1;
		return done();
	}
	if (failures.length > 0 && failures[0].pass) {
		failures.shift(); // a call let through before the failures that follow
	} else if (failures.length > 0) {
		const failure = failures.shift();
		if (failure.retryAfter !== undefined) reply.header("retry-after", String(failure.retryAfter));
		reply.code(failure.status).send({ statusCode: failure.status, message: "injected failure" });
		return;
	}
	const query = request.query ?? {};
	if (request.method === "GET") {
		if (/^\/[^/]+\/[a-z-]+\/?$/.test(path)) stats.queries += 1;
		else stats.gets += 1;
	}
	if (query.offset !== undefined && Number(query.offset) > MAX_OFFSET) {
		return invalid(reply, `The query parameter 'offset' must be <= ${MAX_OFFSET}.`);
	}
	if (query.limit !== undefined && Number(query.limit) > MAX_LIMIT) {
		return invalid(reply, `The query parameter 'limit' must be <= ${MAX_LIMIT}.`);
	}
	requestContext.run({ sort: query.sort }, done);
});

app.get("/_ctmock/ready", async () => ({ ready: true }));
app.get("/_ctmock/stats", async () => stats);
app.post("/_ctmock/fail", async (request) => {
	const { status = 503, times = 1, retryAfter, clear = false, after = 0 } = request.body ?? {};
	if (clear) failures.length = 0;
	for (let i = 0; i < after; i++) failures.push({ pass: true });
	for (let i = 0; i < times; i++) failures.push({ status, retryAfter });
	return { queued: failures.length };
});
// commercetools sets a subscription's health itself; the emulator keeps it Healthy.
app.post("/_ctmock/subscription-status", async (request, reply) => {
	const { projectKey, key, status } = request.body ?? {};
	const found = await storage.query(projectKey, "subscription", {
		where: [`key = "${key}"`],
	});
	if (found.results.length === 0) return reply.code(404).send({ error: "no such subscription" });
	await storage.add(projectKey, "subscription", { ...found.results[0], status });
	return { key, status };
});
app.post("/_ctmock/seed", async (request) => {
	const { projectKey, count, start = 0, lastModifiedAt } = request.body ?? {};
	const project = ctMock.project(projectKey);
	for (let i = start; i < start + count; i++) {
		const addressId = `addr-${i}`;
		const customer = {
			email: `customer${i}@example.com`,
			firstName: `First${i}`,
			lastName: `Last${i}`,
			addresses: [
				{
					id: addressId,
					streetName: "Main Street",
					streetNumber: String(i),
					postalCode: "10115",
					city: "Berlin",
					country: "DE",
				},
			],
			defaultBillingAddressId: addressId,
			shippingAddressIds: [],
			billingAddressIds: [addressId],
			isEmailVerified: false,
			authenticationMode: "Password",
			stores: [],
			customerGroupAssignments: [],
		};
		if (lastModifiedAt) customer.lastModifiedAt = lastModifiedAt;
		await project.unsafeAdd("customer", customer);
	}
	return { added: count };
});

const port = Number(process.argv[2] ?? process.env.CTMOCK_PORT ?? 0);
await app.listen({ port, host: "127.0.0.1" });
const address = app.server.address();
process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
for (const signal of ["SIGTERM", "SIGINT"]) {
	process.on(signal, () => app.close().then(() => process.exit(0)));
}
