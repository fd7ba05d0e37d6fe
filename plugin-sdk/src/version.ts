/**
 * The kernel API version. A plugin's manifest names the range of kernel APIs it supports
 * (`"kernel": "^1.0.0"`); the kernel refuses plugins whose range excludes this version.
 * It follows semver: a major bump is a breaking change to any interface in this package.
 */
export const KERNEL_API_VERSION = '1.0.0';
