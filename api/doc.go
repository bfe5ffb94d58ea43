// Package api is fiveid's HTTP adapter: echo routes, bearer-key
// authentication, JSON wire types (mirroring openapi.yaml), the one error
// table and the Prometheus metrics. It is where bytes become input: it
// refuses bodies that are not JSON, text the stores cannot keep
// (fiveid.ValidText) and request IDs that are not plain, and it puts
// no-store and the security headers on every response.
//
// It must not hold business rules (those are in the root package's
// Service) nor log request bodies: identity data never reaches a log.
package api
