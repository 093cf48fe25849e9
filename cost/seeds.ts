/** The hand-written cost estimates in the seed documents (../shared/seeds), to print beside ours. */
export interface SeedEstimate {
  readonly seed: string;
  readonly devices: number;
  readonly figure: string;
  readonly usdPerMonth: number;
  readonly scope: string;
}

/** GBP to USD for the seed's pound figures (rate of the price table's date; an approximation). */
const USD_PER_GBP = 1.27;

export const SEED_ESTIMATES: readonly SeedEstimate[] = [
  {
    seed: "000 (service table)",
    devices: 20,
    figure: "£7.80/year",
    usdPerMonth: (7.8 * USD_PER_GBP) / 12,
    scope: "IoT Core, Timestream, Lambda, SNS, S3, API Gateway, CloudWatch, state lock; free tier, no controller instance",
  },
  {
    seed: "000 (cost optimization)",
    devices: 20,
    figure: "~$0.25/month",
    usdPerMonth: 0.25,
    scope: "same services at 10-minute sampling, usage charges only",
  },
  {
    seed: "003 (pricing calculator)",
    devices: 10000,
    figure: "~1,000 USD/month",
    usdPerMonth: 1000,
    scope: "50M messages/month, 1-year retention, EC2/RDS-based production configuration",
  },
  {
    seed: "004 (unit prices)",
    devices: 10000,
    figure: "unit prices only, no total",
    usdPerMonth: 0,
    scope: "$1/M IoT requests, $0.10 once per provisioned device, $1.25/M shadow ops, $1.25/M DynamoDB writes, $0.50/M SNS",
  },
];
