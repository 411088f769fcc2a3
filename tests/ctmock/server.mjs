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
//                       "clear": true drops the failures still queued)
//   POST /_ctmock/subscription-status {"projectKey": "p", "key": "ctsync", "status": "..."}
//   GET  /_ctmock/stats -> {"queries": n, "gets": n, "tokens": n}
//
// Usage: node tests/ctmock/server.mjs [port]   (0 = any); prints "listening <url>".
import { AsyncLocalStorage } from "node:async_hooks";
import { CommercetoolsMock, InMemoryStorage } from "@labdigital/commercetools-mock";

const MAX_OFFSET = 10000;
const MAX_LIMIT = 500;
const requestContext = new AsyncLocalStorage();

class RealisticStorage extends InMemoryStorage {
	// The service layer does not pass `sort` down; take it from the request.
	async query(projectKey, typeId, params) {
		const ctx = requestContext.getStore();
		const sort = params.sort ?? ctx?.sort;
		return super.query(projectKey, typeId, sort === undefined ? params : { ...params, sort });
	}
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
	if (failures.length > 0) {
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
	const { status = 503, times = 1, retryAfter, clear = false } = request.body ?? {};
	if (clear) failures.length = 0;
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
