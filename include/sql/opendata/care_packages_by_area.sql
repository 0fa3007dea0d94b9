-- People with a care package in place during one calendar month, by age band (at the month's end)
-- and package type, from the published social-care summary (one row per person, keyed by CHI).
-- {source} is the portal view, named in validated config; every value is a bound parameter.
-- Dates in published tables are ISO text, so comparing them as text orders them as dates.
SELECT
    CASE
        WHEN date_of_birth > :born_after_18 THEN '0-17'
        WHEN date_of_birth > :born_after_65 THEN '18-64'
        WHEN date_of_birth > :born_after_75 THEN '65-74'
        WHEN date_of_birth > :born_after_85 THEN '75-84'
        ELSE '85+'
    END AS age_band,
    care_package_type,
    COUNT(DISTINCT chi_number) AS people
FROM {source}
WHERE care_package_type IS NOT NULL
  AND care_package_type <> ''
  AND care_package_start <= :month_end
  AND (care_package_end IS NULL OR care_package_end = '' OR care_package_end >= :month_start)
GROUP BY 1, 2
