/**
 * The registration API as the operator CLI calls it: `x-api-key` on every request, JSON in and out,
 * and an error that carries the API's status and reasons (`{message, errors?}`).
 */

export interface FleetApiOptions {
  /** Base URL ending in the stage, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/v1` (the `invoke-url` output without `/devices`). */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

export class FleetApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: readonly { path: string; message: string }[] = [],
  ) {
    super(`${status}: ${message}${errors.length > 0 ? ` (${errors.map((e) => `${e.path}: ${e.message}`).join("; ")})` : ""}`);
    this.name = "FleetApiError";
  }
}

export interface DeviceView {
  serialNumber: string;
  status: string;
  deviceType: string;
  thingName: string;
  metadata?: Record<string, string>;
  certificateId?: string;
  replacedBy?: string;
  replaces?: string;
  [key: string]: unknown;
}

export interface ListFilter {
  status?: string;
  deviceType?: string;
  limit?: number;
}

export class FleetApi {
  private readonly baseUrl: string;

  constructor(private readonly options: FleetApiOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new Error(
        `the API URL ${JSON.stringify(options.baseUrl)} is not a URL; give the stage URL, e.g. https://<id>.execute-api.<region>.amazonaws.com/v1`,
      );
    }
    if (url.protocol !== "https:" && !["127.0.0.1", "localhost"].includes(url.hostname)) {
      throw new Error(`the API URL must use https (the API key travels with every request), got ${url.protocol}//${url.host}`);
    }
    if (!options.apiKey) throw new Error("an API key is required (--api-key or FLEET_API_KEY)");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/devices$/, "");
  }

  /** One page of devices. */
  async listPage(filter: ListFilter, nextToken?: string): Promise<{ devices: DeviceView[]; nextToken?: string }> {
    const query = new URLSearchParams();
    if (filter.status) query.set("status", filter.status);
    if (filter.deviceType) query.set("deviceType", filter.deviceType);
    if (filter.limit) query.set("limit", String(filter.limit));
    if (nextToken) query.set("nextToken", nextToken);
    const suffix = query.size > 0 ? `?${query.toString()}` : "";
    return (await this.request("GET", `/devices${suffix}`)) as { devices: DeviceView[]; nextToken?: string };
  }

  /** Every device matching the filter, following `nextToken`. */
  async listAll(filter: Omit<ListFilter, "limit">): Promise<DeviceView[]> {
    const devices: DeviceView[] = [];
    let token: string | undefined;
    do {
      const page = await this.listPage({ ...filter, limit: 100 }, token);
      devices.push(...page.devices);
      token = page.nextToken;
    } while (token);
    return devices;
  }

  async show(serial: string): Promise<DeviceView> {
    return (await this.request("GET", `/devices/${encodeURIComponent(serial)}`)) as DeviceView;
  }

  async revoke(serial: string): Promise<unknown> {
    return this.request("DELETE", `/devices/${encodeURIComponent(serial)}`);
  }

  async reprovision(serial: string, provisioningTokenSha256?: string): Promise<unknown> {
    return this.request("POST", `/devices/${encodeURIComponent(serial)}/reprovision`, provisioningTokenSha256 ? { provisioningTokenSha256 } : {});
  }

  async replace(serial: string, newSerialNumber: string, provisioningTokenSha256?: string): Promise<unknown> {
    return this.request("POST", `/devices/${encodeURIComponent(serial)}/replace`, {
      newSerialNumber,
      ...(provisioningTokenSha256 ? { provisioningTokenSha256 } : {}),
    });
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { "x-api-key": this.options.apiKey, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10000),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new FleetApiError(response.status, `the API answered with something that is not JSON: ${text.slice(0, 120)}`);
    }
    if (!response.ok) {
      const error = parsed as { message?: string; errors?: { path: string; message: string }[] };
      throw new FleetApiError(response.status, error.message ?? response.statusText, error.errors ?? []);
    }
    return parsed;
  }
}
