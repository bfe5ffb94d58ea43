package store

import (
	"context"
	"database/sql"
	"fmt"

	"fiveid"
)

// Customers: the master records source records link to.

const customerCols = "id, status, merged_into, name, sex, birth_date, id_type, id_number, death_date, death_source, version, created_at, updated_at"

func scanCustomer(sc interface{ Scan(...any) error }) (fiveid.Customer, error) {
	var cu fiveid.Customer
	var status string
	var merged sql.NullString
	var created, updated int64
	err := sc.Scan(&cu.ID, &status, &merged, &cu.Name, &cu.Sex, &cu.BirthDate, &cu.IDType, &cu.IDNumber, &cu.DeathDate, &cu.DeathSource, &cu.Version, &created, &updated)
	cu.Status, cu.MergedInto, cu.CreatedAt, cu.UpdatedAt = fiveid.CustomerStatus(status), merged.String, fromMicros(created), fromMicros(updated)
	return cu, err
}

// customerArgs are cu's column values in customerCols order.
func customerArgs(cu fiveid.Customer) []any {
	return []any{cu.ID, string(cu.Status), nullable(cu.MergedInto), cu.Name, cu.Sex, cu.BirthDate, cu.IDType, cu.IDNumber,
		cu.DeathDate, cu.DeathSource, cu.Version, micros(cu.CreatedAt), micros(cu.UpdatedAt)}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c conn) Customer(ctx context.Context, id string) (fiveid.Customer, error) {
	cu, err := scanCustomer(c.row(ctx, "SELECT "+customerCols+" FROM customers WHERE id = ?", id))
	return cu, mapErr("customer", err)
}

func (c txConn) InsertCustomer(ctx context.Context, cu fiveid.Customer) error {
	_, err := c.exec(ctx, "insert customer", "INSERT INTO customers ("+customerCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		customerArgs(cu)...)
	return err
}

func (c txConn) UpdateCustomer(ctx context.Context, cu fiveid.Customer) error {
	// The SET list is customerCols after id, in the same order.
	res, err := c.exec(ctx, "update customer", `UPDATE customers SET status = ?, merged_into = ?, name = ?, sex = ?,
		birth_date = ?, id_type = ?, id_number = ?, death_date = ?, death_source = ?, version = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		append(customerArgs(cu)[1:], cu.ID)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update customer %s: %w", cu.ID, fiveid.ErrNotFound)
	}
	return nil
}
