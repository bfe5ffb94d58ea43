// Package api is fiveid's HTTP adapter: echo routes, bearer-key
// authentication, JSON wire types (mirroring openapi.yaml), the one error
// table and the Prometheus metrics.
//
// It must not hold business rules (those are in the root package's
// Service) nor log request bodies: identity data never reaches a log.
package api
